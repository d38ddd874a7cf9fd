// The event store laws on the in-memory store, and the aggregate and projection helpers.
#include "eventsource/store_laws.hpp"

#include <bulwark/eventsource/memory_store.hpp>

using namespace es_test;

TEST_CASE("memory store: append and read", "[eventsource][memory]") {
    bulwark::memory_event_store store;
    law_append_and_read(store);
}

TEST_CASE("memory store: a stale expected version is a concurrency_conflict",
          "[eventsource][memory]") {
    bulwark::memory_event_store store;
    law_conflict(store);
}

TEST_CASE("memory store: a retried append is recognised by its event ids",
          "[eventsource][memory]") {
    bulwark::memory_event_store store;
    law_idempotent_retry(store);
}

TEST_CASE("memory store: 8 threads, one winner per version", "[eventsource][memory][concurrency]") {
    bulwark::memory_event_store store;
    law_concurrent_appends([&](std::size_t) -> bulwark::memory_event_store& { return store; }, 200);
    law_concurrent_retry_loop([&](std::size_t) -> bulwark::memory_event_store& { return store; },
                              100);
}

TEST_CASE("memory store: snapshot + replay equals full replay",
          "[eventsource][memory][aggregate]") {
    bulwark::memory_event_store store;
    law_snapshot_replay(store);
}

TEST_CASE("memory store: projections follow every stream from a checkpoint",
          "[eventsource][memory][projection]") {
    bulwark::memory_event_store store;
    law_projection(store);
}

TEST_CASE("memory store: outbox relay publishes with the event id as message id",
          "[eventsource][memory][outbox]") {
    bulwark::memory_event_store store;
    law_outbox(store);
}

TEST_CASE("aggregate: an unknown stored event type is a decode error naming it",
          "[eventsource][aggregate]") {
    bulwark::memory_event_store store;
    REQUIRE(store.append("odd", std::vector{ev("order_placed", "ada|0"), ev("mystery", "?")}, 0)
                .has_value());
    bulwark::aggregate_repository<order, bulwark::memory_event_store> repo{store};
    auto o = repo.load("odd");
    REQUIRE_FALSE(o.has_value());
    CHECK(o.error().code == bulwark::errc::decode_error);
    CHECK_THROWS_WITH(o.error().raise(), Catch::Contains("unknown type 'mystery'"));
    // A malformed body of a known type is a decode error too.
    REQUIRE(store.append("bad", std::vector{ev("order_placed", "no-number")}, 0).has_value());
    CHECK(repo.load("bad").error().code == bulwark::errc::decode_error);
}

TEST_CASE("aggregate repository: snapshots need snapshot_state/restore_state",
          "[eventsource][aggregate]") {
    struct plain : bulwark::aggregate<plain, text_codec, order_paid> {
        long paid = 0;
        void apply(const order_paid& e) { paid += e.amount; }
        void pay(long a) { record(order_paid{a}); }
    };
    bulwark::memory_event_store store;
    CHECK_THROWS_WITH((bulwark::aggregate_repository<plain, bulwark::memory_event_store>{
                          store, {.snapshot_every = 10}}),
                      Catch::Contains("bulwark::aggregate_repository: snapshot_every must be 0"));
    bulwark::aggregate_repository<plain, bulwark::memory_event_store> repo{store};
    auto p = repo.load("p").value();
    p.pay(3);
    p.pay(4);
    REQUIRE(repo.save(p).has_value());
    CHECK(p.version() == 2);
    CHECK(p.pending().empty());
    CHECK(repo.load("p").value().paid == 7);
    // Saving nothing is a no-op.
    CHECK(repo.save(p)->last_version == 2);
}

TEST_CASE("outbox relay: bad batch size is rejected", "[eventsource][outbox]") {
    bulwark::memory_event_store store;
    recording_transport t;
    CHECK_THROWS_WITH(
        (bulwark::outbox_relay{store, t, {.batch = 0}}),
        Catch::Contains("bulwark::outbox_relay: batch must be in [1, 100000] (got 0)"));
}
