#pragma once
// The transport laws: one suite every message transport passes, in-process or networked.
//
// HOW ANOTHER TRANSPORT INSTANTIATES THEM (e.g. tests/transport/nats/laws.cpp):
//
//   #include "support/transport_laws.hpp"
//
//   struct nats_factory {
//       using transport = bulwark::nats_transport;
//       // A fresh transport, ready to publish and subscribe; nullptr when the part is missing
//       // (the laws then print "skipped: ..." with `why_missing()` and return).
//       std::unique_ptr<transport> make();
//       std::string why_missing() const;               // e.g. "nats-server not found"
//       // Make earlier subscribes/publishes take effect at the server (NATS: flush, i.e. a
//       // PING/PONG round trip). In-process: nothing to do.
//       void flush(transport&);
//       // A deadline `d` from now on the clock the transport's request() reads.
//       bulwark::time_point deadline(transport&, bulwark::duration d);
//   };
//
//   TEST_CASE("nats: transport laws", "[transport][nats][needs-nats-server]") {
//       bulwark::laws::transport_laws(nats_factory{});
//   }
//   // The typed front over the transport (needs a codec of law_ping / law_pong, see below):
//   TEST_CASE("nats: typed front laws", "[transport][nats][needs-nats-server]") {
//       bulwark::laws::typed_front_laws<bulwark::json_codec>(nats_factory{});
//   }
//
// Each law is a Catch2 SECTION, so a failure names the law. Delivery may be asynchronous: the
// laws wait for an expected count (with a generous cap that only stops a hung test, never a
// timing assertion), and prove that something was *not* delivered by sending a sentinel that
// every subscriber receives after it (per-publisher order holds on NATS and in-process).
//
// The typed front laws use `law_ping` / `law_pong` (a string and an int each): the codec under
// test must encode and decode both (a JSON codec: give them to_json/from_json in the test file).

#include <bulwark/channel/bus.hpp>
#include <bulwark/transport/message_transport.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace bulwark::laws {

struct law_pong;
/// A request of the typed front laws.
struct law_ping {
    static constexpr std::string_view subject = "laws.typed.ping";
    using reply_type = law_pong;
    std::string text;
    int n = 0;
    friend bool operator==(const law_ping&, const law_ping&) = default;
};
/// The reply of `law_ping` (also published on its own).
struct law_pong {
    static constexpr std::string_view subject = "laws.typed.pong";
    std::string text;
    int n = 0;
    friend bool operator==(const law_pong&, const law_pong&) = default;
};
using law_topics = topics<law_ping, law_pong>;

inline std::span<const std::byte> bytes_of(std::string_view s) {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
inline std::string text_of(std::span<const std::byte> b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

/// Collects what a subscription received; waits for a count (a generous cap only stops a hung
/// test).
class recorder {
public:
    message_handler handler(std::string who = {}) {
        return [this, who](const message_view& v) {
            std::lock_guard lock(m_);
            got_.push_back({who, std::string(v.subject), std::string(v.reply_to),
                            v.headers != nullptr ? *v.headers : header_map{}, text_of(v.data)});
            cv_.notify_all();
            return settle::ack();
        };
    }
    struct item {
        std::string who, subject, reply_to;
        header_map headers;
        std::string data;
    };
    /// Waits until `pred(items)` holds; false only when the cap (60 s) passed.
    template <class P>
    bool wait(P pred) {
        std::unique_lock lock(m_);
        return cv_.wait_for(lock, std::chrono::seconds(60), [&] { return pred(got_); });
    }
    bool wait_count(std::size_t n) {
        return wait([n](const auto& g) { return g.size() >= n; });
    }
    std::vector<item> items() const {
        std::lock_guard lock(m_);
        return got_;
    }
    std::size_t count(std::string_view who) const {
        std::lock_guard lock(m_);
        std::size_t n = 0;
        for (auto& i : got_)
            n += i.who == who;
        return n;
    }
    std::size_t size() const {
        std::lock_guard lock(m_);
        return got_.size();
    }

private:
    mutable std::mutex m_;
    std::condition_variable cv_;
    std::vector<item> got_;
};

template <class Factory>
auto make_or_skip(Factory& f) {
    auto t = f.make();
    if (!t)
        WARN("skipped: " << f.why_missing());
    return t;
}

/// The byte transport laws (see the top of this file).
template <class Factory>
void transport_laws(Factory f) {
    using transport = typename Factory::transport;
    static_assert(
        message_transport<transport>,
        "transport_laws: the factory's transport must satisfy bulwark::message_transport");
    using namespace std::chrono_literals;

    SECTION("pub/sub round trip carries subject, headers and bytes") {
        auto t = make_or_skip(f);
        if (!t)
            return;
        recorder r;
        auto sub = t->subscribe("laws.rt", {}, r.handler());
        f.flush(*t);
        header_map h;
        h.set("x-law", "round-trip");
        REQUIRE(t->publish("laws.rt", h, bytes_of("hello")));
        f.flush(*t);
        REQUIRE(r.wait_count(1));
        auto got = r.items();
        CHECK(got[0].subject == "laws.rt");
        CHECK(got[0].data == "hello");
        CHECK(got[0].headers.get("x-law") == std::optional<std::string_view>("round-trip"));
    }

    SECTION("wildcards: '*' matches one token, '>' one or more") {
        auto t = make_or_skip(f);
        if (!t)
            return;
        recorder r;
        auto s1 = t->subscribe("laws.*.x", {}, r.handler("star"));
        auto s2 = t->subscribe("laws.>", {}, r.handler("full"));
        f.flush(*t);
        for (auto s : {"laws.a.x", "laws.b", "laws.a.b.x", "laws", "other.a.x"})
            REQUIRE(t->publish(s, {}, bytes_of(s)));
        REQUIRE(t->publish("laws.end.x", {}, bytes_of("sentinel")));
        f.flush(*t);
        REQUIRE(r.wait([](const auto& g) {
            std::size_t n = 0;
            for (auto& i : g)
                n += i.data == "sentinel";
            return n == 2;
        }));
        std::multiset<std::string> star, full;
        for (auto& i : r.items())
            (i.who == "star" ? star : full).insert(i.subject);
        CHECK(star == std::multiset<std::string>{"laws.a.x", "laws.end.x"});
        CHECK(full == std::multiset<std::string>{"laws.a.x", "laws.b", "laws.a.b.x", "laws.end.x"});
    }

    SECTION("queue groups: each message to exactly one member, spread over members") {
        auto t = make_or_skip(f);
        if (!t)
            return;
        recorder group, all;
        auto a = t->subscribe("laws.q", "workers", group.handler("a"));
        auto b = t->subscribe("laws.q", "workers", group.handler("b"));
        auto c = t->subscribe("laws.q", "workers", group.handler("c"));
        auto plain = t->subscribe("laws.q", {}, all.handler("plain"));
        f.flush(*t);
        constexpr int n = 60;
        for (int i = 0; i < n; ++i)
            REQUIRE(t->publish("laws.q", {}, bytes_of(std::to_string(i))));
        f.flush(*t);
        REQUIRE(all.wait_count(n));
        REQUIRE(group.wait_count(n));
        std::set<std::string> seen;
        for (auto& i : group.items())
            CHECK(seen.insert(i.data).second); // never to two members
        CHECK(seen.size() == std::size_t{n});
        int members_used = (group.count("a") > 0) + (group.count("b") > 0) + (group.count("c") > 0);
        CHECK(members_used >= 2);
        CHECK(all.size() == std::size_t{n}); // a plain subscriber still gets every message
    }

    SECTION("request/reply: the responder's reply comes back") {
        auto t = make_or_skip(f);
        if (!t)
            return;
        auto& tr = *t;
        auto responder = tr.subscribe("laws.echo", {}, [&tr](const message_view& v) {
            header_map h;
            h.set("x-echo", "1");
            std::string body = "echo:" + text_of(v.data);
            (void)tr.publish(v.reply_to, h, bytes_of(body));
            return settle::ack();
        });
        f.flush(tr);
        auto r = tr.request("laws.echo", {}, bytes_of("ping"), f.deadline(tr, 30s));
        REQUIRE(r);
        CHECK(text_of(r->data) == "echo:ping");
        CHECK(r->headers.get("x-echo") == std::optional<std::string_view>("1"));
    }

    SECTION("no responders: errc::no_responders, not a timeout") {
        auto t = make_or_skip(f);
        if (!t)
            return;
        auto r = t->request("laws.nobody.home", {}, bytes_of("?"), f.deadline(*t, 60s));
        REQUIRE(!r);
        CHECK(r.code() == errc::no_responders);
    }

    SECTION("timeout: a listener that never replies gives errc::timeout") {
        auto t = make_or_skip(f);
        if (!t)
            return;
        recorder r;
        auto silent = t->subscribe("laws.silent", {}, r.handler());
        f.flush(*t);
        auto out = t->request("laws.silent", {}, bytes_of("?"), f.deadline(*t, 50ms));
        REQUIRE(!out);
        CHECK(out.code() == errc::timeout);
    }

    SECTION("drain delivers everything accepted before it returns") {
        auto t = make_or_skip(f);
        if (!t)
            return;
        recorder r;
        auto sub = t->subscribe("laws.drain", {}, r.handler());
        f.flush(*t);
        constexpr std::size_t n = 200;
        std::size_t accepted = 0;
        for (std::size_t i = 0; i < n; ++i)
            accepted += t->publish("laws.drain", {}, bytes_of(std::to_string(i))).has_value();
        t->drain();
        CHECK(accepted == n);
        CHECK(r.size() == accepted); // no waiting: drain is the barrier
    }

    SECTION("unsubscribe stops delivery") {
        auto t = make_or_skip(f);
        if (!t)
            return;
        recorder r;
        auto a = t->subscribe("laws.unsub", {}, r.handler("a"));
        auto b = t->subscribe("laws.unsub", {}, r.handler("b"));
        f.flush(*t);
        REQUIRE(t->publish("laws.unsub", {}, bytes_of("1")));
        f.flush(*t);
        REQUIRE(r.wait_count(2));
        a.unsubscribe();
        f.flush(*t);
        REQUIRE(t->publish("laws.unsub", {}, bytes_of("2")));
        f.flush(*t);
        REQUIRE(r.wait([](const auto& g) {
            for (auto& i : g)
                if (i.who == "b" && i.data == "2")
                    return true;
            return false;
        }));
        CHECK(r.count("a") == 1);
        CHECK(r.count("b") == 2);
    }
}

/// The typed front over the factory's transport with `Codec`: round trip, request/reply,
/// dead letter on malformed bytes.
template <class Codec, class Factory>
void typed_front_laws(Factory f) {
    using transport = typename Factory::transport;
    using front = bus<law_topics, transport, Codec>;
    using namespace std::chrono_literals;

    SECTION("typed round trip with envelope metadata") {
        auto t = make_or_skip(f);
        if (!t)
            return;
        front b{*t};
        std::mutex m;
        std::condition_variable cv;
        std::vector<law_pong> got;
        std::vector<message_metadata> mds;
        auto sub = b.template subscribe<law_pong>([&](const envelope<law_pong>& e) {
            std::lock_guard lock(m);
            got.push_back(e.message());
            mds.push_back(e.metadata());
            cv.notify_all();
        });
        f.flush(*t);
        message_metadata md;
        md.headers.set("x-tenant", "acme");
        stamp(md);
        REQUIRE(b.publish(law_pong{"hi", 7}, md));
        f.flush(*t);
        std::unique_lock lock(m);
        REQUIRE(cv.wait_for(lock, 60s, [&] { return !got.empty(); }));
        CHECK(got[0] == law_pong{"hi", 7});
        CHECK(mds[0].id == md.id);
        CHECK(mds[0].correlation_id == md.correlation_id);
        CHECK(mds[0].headers.get("x-tenant") == std::optional<std::string_view>("acme"));
    }

    SECTION("typed request/reply, no responders") {
        auto t = make_or_skip(f);
        if (!t)
            return;
        front b{*t};
        auto none = b.template request<law_ping>(law_ping{"x", 1}, f.deadline(*t, 60s));
        REQUIRE(!none);
        CHECK(none.code() == errc::no_responders);
        auto resp = b.template respond<law_ping>([](const law_ping& p) {
            return law_pong{p.text + "!", p.n + 1};
        });
        f.flush(*t);
        auto r = b.template request<law_ping>(law_ping{"x", 1}, f.deadline(*t, 30s));
        REQUIRE(r);
        CHECK(*r == law_pong{"x!", 2});
    }

    SECTION("malformed bytes go to the dead-letter sink with bytes, headers and reason") {
        auto t = make_or_skip(f);
        if (!t)
            return;
        dead_letter_box<received_message> box;
        front b{*t, bus_options{.dead_letter = box.sink()}};
        std::atomic<int> handled{0};
        auto sub = b.template subscribe<law_pong>([&](const law_pong&) { handled.fetch_add(1); });
        f.flush(*t);
        message_metadata md;
        stamp(md);
        header_map h;
        to_headers(md, h);
        REQUIRE(t->publish(law_pong::subject, h, bytes_of("\x01not a pong\xff")));
        header_map bad_meta;
        bad_meta.set("correlation-id", "garbage");
        REQUIRE(t->publish(law_pong::subject, bad_meta, bytes_of("whatever")));
        f.flush(*t);
        // A good message after both: once it is handled, both bad ones were seen.
        REQUIRE(b.publish(law_pong{"ok", 1}));
        f.flush(*t);
        for (int i = 0; i < 60000 && (handled.load() < 1 || box.size() < 2); ++i)
            std::this_thread::sleep_for(1ms); // a cap that only stops a hung test
        REQUIRE(box.size() == 2);
        CHECK(handled.load() == 1);
        auto items = box.items();
        CHECK(text_of(items[0].message.data) == "\x01not a pong\xff");
        CHECK(items[0].message.subject == law_pong::subject);
        CHECK(items[0].message.headers.get("message-id").has_value());
        CHECK(items[0].cause.code == errc::decode_error);
        CHECK(items[0].kind == dead_letter_kind::malformed);
        CHECK(!items[0].reason.empty());
        CHECK(items[1].message.headers.get("correlation-id") ==
              std::optional<std::string_view>("garbage"));
        CHECK(b.malformed_count() == 2);
    }
}

} // namespace bulwark::laws
