// The SQLite outbox relayed through the real NATS transport into a JetStream stream: a
// re-publish after a crash between publish and mark is dropped by the server's Nats-Msg-Id
// de-duplication (the event id), so the stream holds each event once.
#if BULWARK_TEST_SQLITE
#include "eventsource/support.hpp"
#include "support/nats_server.hpp"

#include <bulwark/eventsource/sqlite_store.hpp>
#include <bulwark/transport/nats.hpp>

#include <catch2/catch.hpp>

using namespace es_test;

namespace {
// The store of a process that dies between publishing and marking: mark_sent fails once.
struct crash_before_mark {
    bulwark::sqlite_event_store& inner;
    bool fail_next_mark = true;
    auto pending_outbox(std::size_t max) { return inner.pending_outbox(max); }
    bulwark::outcome<void> mark_sent(std::span<const std::uint64_t> p) {
        if (fail_next_mark) {
            fail_next_mark = false;
            return bulwark::make_store_error("simulated crash before mark");
        }
        return inner.mark_sent(p);
    }
};
} // namespace

TEST_CASE("outbox to JetStream: a re-publish after a crash before the mark is stored once",
          "[eventsource][outbox][jetstream][sqlite][nats-server]") {
    BULWARK_NEED_NATS(bin);
    bulwark::testing::nats_server server(bin);
    bulwark::nats_transport nats({.servers = {server.url()}});
    bulwark::jetstream js(nats);
    REQUIRE(js.declare_stream({.name = "OUTBOX", .subjects = {"shop.>"}}).has_value());
    temp_dir dir;
    bulwark::sqlite_event_store store{dir.file("events.db")};
    std::vector<bulwark::event_data> batch{ev("placed", "a"), ev("paid", "b"), ev("shipped", "c")};
    REQUIRE(store.append("order-1", batch, 0, "shop.orders").has_value());

    crash_before_mark dying{store};
    bulwark::outbox_relay first{dying, nats};
    CHECK_FALSE(first.relay_once().has_value()); // published, not marked
    CHECK(store.pending_outbox(10).value().size() == 3);
    bulwark::outbox_relay restarted{store, nats};
    CHECK(restarted.relay_pending().value() == 3); // published again, same ids
    CHECK(store.pending_outbox(10).value().empty());
    nats.drain(); // flush

    bulwark::nats_transport reader({.servers = {server.url()}});
    bulwark::jetstream js2(reader);
    jsStreamInfo* si = nullptr;
    REQUIRE(js_GetStreamInfo(&si, js2.native_handle(), "OUTBOX", nullptr, nullptr) == NATS_OK);
    CHECK(si->State.Msgs == 3); // 6 publishes, 3 stored
    jsStreamInfo_Destroy(si);
    for (std::uint64_t seq = 1; seq <= 3; ++seq) {
        natsMsg* m = nullptr;
        REQUIRE(js_GetMsg(&m, js2.native_handle(), "OUTBOX", seq, nullptr, nullptr) == NATS_OK);
        const char* id = nullptr;
        natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
        CHECK(std::string(id ? id : "") == batch[seq - 1].id);
        natsMsg_Destroy(m);
    }
}
#endif
