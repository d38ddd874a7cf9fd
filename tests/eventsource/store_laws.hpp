#pragma once
// The event store laws: every store (memory, SQLite, JetStream) runs the same checks.

#include "eventsource/support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <barrier>
#include <set>
#include <thread>

namespace es_test {

template <class Store>
void law_append_and_read(Store& store) {
    std::vector<bulwark::event_data> batch{ev("a", "1"), ev("b", "2"), ev("c", "3")};
    auto r = store.append("law-read", batch, bulwark::expected_version::no_stream);
    REQUIRE(r.has_value());
    CHECK(r->first_version == 1);
    CHECK(r->last_version == 3);
    CHECK_FALSE(r->duplicate);
    auto more = std::vector{ev("d", "4")};
    REQUIRE(store.append("law-read", more, 3).has_value());

    auto all = store.read("law-read", 1);
    REQUIRE(all.has_value());
    REQUIRE(all->size() == 4);
    for (std::size_t i = 0; i < all->size(); ++i) {
        CHECK((*all)[i].version == i + 1);
        CHECK((*all)[i].stream == "law-read");
        if (i > 0)
            CHECK((*all)[i].position > (*all)[i - 1].position);
    }
    CHECK((*all)[0].id == batch[0].id);
    CHECK((*all)[2].type == "c");
    CHECK((*all)[3].payload == "4");
    auto tail = store.read("law-read", 3);
    REQUIRE(tail.has_value());
    REQUIRE(tail->size() == 2);
    CHECK(tail->front().version == 3);
    CHECK(store.read("law-nothing", 1)->empty());
    CHECK(store.version("law-read").value() == 4);
    CHECK(store.version("law-nothing").value() == 0);
}

template <class Store>
void law_conflict(Store& store) {
    REQUIRE(store.append("law-conflict", std::vector{ev(), ev()}, 0).has_value());
    // Stale writer: expected 1, stream at 2.
    auto stale = store.append("law-conflict", std::vector{ev()}, 1);
    REQUIRE_FALSE(stale.has_value());
    REQUIRE(bulwark::is_concurrency_conflict(stale.error()));
    try {
        stale.error().raise();
    } catch (const bulwark::concurrency_conflict& c) {
        CHECK(c.stream() == "law-conflict");
        CHECK(c.expected() == 1);
        CHECK(c.actual() == 2);
        CHECK(std::string(c.what()).find("concurrency conflict") != std::string::npos);
    }
    // Ahead of the stream, and "no stream" on an existing one.
    CHECK(bulwark::is_concurrency_conflict(
        store.append("law-conflict", std::vector{ev()}, 7).error()));
    CHECK(bulwark::is_concurrency_conflict(
        store.append("law-conflict", std::vector{ev()}, 0).error()));
    CHECK(store.version("law-conflict").value() == 2); // nothing written by the losers
    // Bad arguments are not conflicts.
    auto bad = store.append("", std::vector{ev()}, 0);
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().code == bulwark::errc::invalid_argument);
    auto noid = store.append("law-conflict", std::vector{bulwark::event_data{"", "t", "p"}}, 2);
    CHECK(noid.error().code == bulwark::errc::invalid_argument);
}

template <class Store>
void law_idempotent_retry(Store& store) {
    std::vector<bulwark::event_data> batch{ev(), ev()};
    REQUIRE(store.append("law-retry", batch, 0).has_value());
    // The same append again (a retry after a lost ack): success, nothing written.
    auto again = store.append("law-retry", batch, 0);
    REQUIRE(again.has_value());
    CHECK(again->duplicate);
    CHECK(again->last_version == 2);
    CHECK(store.version("law-retry").value() == 2);
    // A partial overlap is a conflict.
    std::vector<bulwark::event_data> mixed{batch[0], ev()};
    CHECK(bulwark::is_concurrency_conflict(store.append("law-retry", mixed, 0).error()));
    // Expected "any" appends at the end, and recognises its own retry by event id.
    std::vector<bulwark::event_data> loose{ev()};
    auto a1 = store.append("law-retry", loose, bulwark::expected_version::any);
    REQUIRE(a1.has_value());
    CHECK(a1->last_version == 3);
    auto a2 = store.append("law-retry", loose, bulwark::expected_version::any);
    REQUIRE(a2.has_value());
    CHECK(a2->duplicate);
    CHECK(store.version("law-retry").value() == 3);
}

// 8 threads race on the same expected version, round after round: exactly one winner per
// round (version), every loser gets a conflict, and the stream has no gap and no duplicate.
template <class PerThread>
void law_concurrent_appends(PerThread&& store_for, int rounds) {
    constexpr std::size_t threads = 8;
    std::vector<std::vector<std::string>> won(threads);
    std::vector<int> conflicts(threads, 0);
    std::vector<int> other_failures(threads, 0);
    std::barrier sync(static_cast<std::ptrdiff_t>(threads));
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            auto& store = store_for(t);
            for (int r = 0; r < rounds; ++r) {
                sync.arrive_and_wait();
                auto e = ev("race", std::to_string(t));
                auto res = store.append("law-race", std::vector{e}, static_cast<std::uint64_t>(r));
                if (res.has_value()) {
                    if (!res->duplicate)
                        won[t].push_back(e.id);
                } else if (bulwark::is_concurrency_conflict(res.error())) {
                    ++conflicts[t];
                } else {
                    ++other_failures[t];
                }
                sync.arrive_and_wait();
            }
        });
    for (auto& th : pool)
        th.join();
    std::size_t wins = 0;
    int lost = 0, others = 0;
    std::set<std::string> winners;
    for (std::size_t t = 0; t < threads; ++t) {
        wins += won[t].size();
        winners.insert(won[t].begin(), won[t].end());
        lost += conflicts[t];
        others += other_failures[t];
    }
    CHECK(others == 0);
    CHECK(wins == static_cast<std::size_t>(rounds));
    CHECK(lost == rounds * static_cast<int>(threads - 1));
    auto stored = store_for(0).read("law-race", 1);
    REQUIRE(stored.has_value());
    REQUIRE(stored->size() == static_cast<std::size_t>(rounds));
    std::set<std::string> stored_ids;
    for (std::size_t i = 0; i < stored->size(); ++i) {
        CHECK((*stored)[i].version == i + 1); // no gap, no duplicate version
        stored_ids.insert((*stored)[i].id);
    }
    CHECK(stored_ids == winners); // exactly the winners' events, each once
}

// Free-running writers: each thread appends `per_thread` events, reloading the version after a
// conflict. All events land, once each, versions 1..N.
template <class PerThread>
void law_concurrent_retry_loop(PerThread&& store_for, int per_thread) {
    constexpr std::size_t threads = 8;
    std::atomic<int> conflicts{0};
    std::atomic<int> errors{0}; // Catch2 v2 assertions are not thread-safe: count, check after
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            auto& store = store_for(t);
            for (int i = 0; i < per_thread; ++i) {
                auto e = ev("loop", std::to_string(t) + "." + std::to_string(i));
                for (;;) {
                    auto v = store.version("law-loop");
                    if (!v) {
                        ++errors;
                        return;
                    }
                    auto res = store.append("law-loop", std::vector{e}, *v);
                    if (res.has_value())
                        break;
                    if (!bulwark::is_concurrency_conflict(res.error())) {
                        ++errors;
                        return;
                    }
                    ++conflicts;
                }
            }
        });
    for (auto& th : pool)
        th.join();
    CHECK(errors == 0);
    auto stored = store_for(0).read("law-loop", 1);
    REQUIRE(stored.has_value());
    REQUIRE(stored->size() == threads * static_cast<std::size_t>(per_thread));
    std::set<std::string> payloads;
    for (std::size_t i = 0; i < stored->size(); ++i) {
        CHECK((*stored)[i].version == i + 1);
        payloads.insert((*stored)[i].payload);
    }
    CHECK(payloads.size() == threads * static_cast<std::size_t>(per_thread));
}

// Snapshot + replay of the rest == full replay.
template <class Store>
void law_snapshot_replay(Store& store) {
    bulwark::aggregate_repository<order, Store> repo{store, {.snapshot_every = 5}};
    auto o = repo.load("law-order").value();
    CHECK(o.version() == 0);
    o.place("ada");
    REQUIRE(repo.save(o).has_value());
    for (int i = 0; i < 22; ++i) {
        auto cur = repo.load("law-order").value();
        cur.add("sku-" + std::to_string(i), i % 3 + 1, 100 + i);
        if (i % 4 == 0)
            cur.pay(50 + i);
        REQUIRE(repo.save(cur).has_value());
    }
    auto snap = store.load_snapshot("law-order").value();
    REQUIRE(snap.has_value());
    CHECK(snap->version % 5 == 0);
    CHECK(snap->version > 0);
    auto from_snapshot = repo.load("law-order").value();
    auto from_events = repo.load_from_events("law-order").value();
    CHECK(from_snapshot.version() == store.version("law-order").value());
    CHECK(from_snapshot.same_state(from_events));
    CHECK(from_events.items > 0);
    CHECK(from_events.customer == "ada");

    // A stale aggregate cannot save over a newer one.
    auto a = repo.load("law-order").value();
    auto b = repo.load("law-order").value();
    a.pay(1);
    b.pay(2);
    REQUIRE(repo.save(a).has_value());
    auto lost = repo.save(b);
    REQUIRE_FALSE(lost.has_value());
    CHECK(bulwark::is_concurrency_conflict(lost.error()));
    CHECK(b.pending().size() == 1); // kept for the caller to decide again

    // An older snapshot never replaces a newer one.
    const auto newest = store.load_snapshot("law-order").value()->version;
    CHECK(newest >= snap->version);
    REQUIRE(store.save_snapshot(bulwark::snapshot{"law-order", 1, "stale"}).has_value());
    CHECK(store.load_snapshot("law-order").value()->version == newest);
}

template <class Store>
void law_projection(Store& store) {
    bulwark::aggregate_repository<order, Store> repo{store};
    for (int n = 0; n < 3; ++n) {
        auto o = repo.load("law-proj-" + std::to_string(n)).value();
        o.place("c" + std::to_string(n));
        o.add("s", 2, 10);
        o.pay(10 * (n + 1));
        REQUIRE(repo.save(o).has_value());
    }
    revenue r;
    auto applied = r.catch_up(store, 2);
    REQUIRE(applied.has_value());
    CHECK(r.paid_by_order["law-proj-0"] == 10);
    CHECK(r.paid_by_order["law-proj-2"] == 30);
    const long paid = r.paid;
    const auto cp = r.checkpoint();
    CHECK(cp > 0);
    // Nothing new: nothing applied, checkpoint unchanged.
    CHECK(r.catch_up(store).value() == 0);
    CHECK(r.checkpoint() == cp);
    auto o = repo.load("law-proj-1").value();
    o.pay(5);
    REQUIRE(repo.save(o).has_value());
    CHECK(r.catch_up(store).value() == 1);
    CHECK(r.paid == paid + 5);
    // A new projection resumed from the old checkpoint sees only the new event.
    revenue late;
    late.resume_from(cp);
    CHECK(late.catch_up(store).value() == 1);
    CHECK(late.paid == 5);
}

template <class Store>
void law_outbox(Store& store) {
    std::vector<bulwark::event_data> batch{ev("a", "p1"), ev("b", "p2")};
    REQUIRE(store.append("law-outbox", batch, 0, "orders.events").has_value());
    REQUIRE(store.append("law-outbox-quiet", std::vector{ev()}, 0).has_value()); // no outbox
    recording_transport t;
    t.fail_after = 1;
    bulwark::outbox_relay relay{store, t, {.batch = 10}};
    auto first = relay.relay_once();
    REQUIRE_FALSE(first.has_value()); // the second publish failed
    REQUIRE(t.log.size() == 1);
    CHECK(store.pending_outbox(10).value().size() == 1); // the first is marked, the second not
    t.fail_after = -1;
    CHECK(relay.relay_pending().value() == 1);
    REQUIRE(t.log.size() == 2);
    CHECK(t.log[0].id == batch[0].id);
    CHECK(t.log[0].nats_id == batch[0].id);
    CHECK(t.log[1].id == batch[1].id);
    CHECK(t.log[1].payload == "p2");
    CHECK(t.log[1].subject == "orders.events");
    CHECK(t.log[1].type == "b");
    CHECK(store.pending_outbox(10).value().empty());
    CHECK(relay.relay_pending().value() == 0);
    // A conflicting append enqueues nothing.
    CHECK_FALSE(store.append("law-outbox", std::vector{ev()}, 0, "orders.events").has_value());
    CHECK(store.pending_outbox(10).value().empty());
}

} // namespace es_test
