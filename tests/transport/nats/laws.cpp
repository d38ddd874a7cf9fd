// The transport laws (tests/support/transport_laws.hpp) on nats_transport, unchanged, and the
// typed front laws over bus<Topics, nats_transport, json_codec>, against a real nats-server.
#include "support/nats_server.hpp"
#include "support/transport_laws.hpp"

#include <bulwark/channel/bus.hpp>
#include <bulwark/codec/json.hpp>
#include <bulwark/transport/nats.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <string>

namespace bulwark::laws {
// JSON for the law messages (ADL: they live in bulwark::laws).
inline void to_json(nlohmann::json& j, const law_ping& p) {
    j = {{"text", p.text}, {"n", p.n}};
}
inline void from_json(const nlohmann::json& j, law_ping& p) {
    p.text = j.at("text").get<std::string>();
    p.n = j.at("n").get<int>();
}
inline void to_json(nlohmann::json& j, const law_pong& p) {
    j = {{"text", p.text}, {"n", p.n}};
}
inline void from_json(const nlohmann::json& j, law_pong& p) {
    p.text = j.at("text").get<std::string>();
    p.n = j.at("n").get<int>();
}
} // namespace bulwark::laws

namespace {

/// One nats-server for the whole binary's law runs (started on first use).
bulwark::testing::nats_server* law_server() {
    static std::unique_ptr<bulwark::testing::nats_server> s = [] {
        auto bin = bulwark::testing::nats_server_binary();
        return bin.empty() ? nullptr : std::make_unique<bulwark::testing::nats_server>(bin);
    }();
    return s.get();
}

struct nats_factory {
    using transport = bulwark::nats_transport;
    std::unique_ptr<transport> make() {
        auto* s = law_server();
        if (s == nullptr)
            return nullptr;
        bulwark::nats_options o;
        o.servers = {s->url()};
        return std::make_unique<transport>(o);
    }
    std::string why_missing() const { return "nats-server not found"; }
    void flush(transport& t) { (void)t.flush(); }
    bulwark::time_point deadline(transport&, bulwark::duration d) {
        return bulwark::saturating_add(std::chrono::steady_clock::now(), d);
    }
};

} // namespace

TEST_CASE("nats: transport laws", "[transport][nats][nats-server]") {
    bulwark::laws::transport_laws(nats_factory{});
}

TEST_CASE("nats: typed front laws", "[transport][nats][nats-server]") {
    bulwark::laws::typed_front_laws<bulwark::json_codec>(nats_factory{});
}
