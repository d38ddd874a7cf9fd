// The event store laws on SQLite: one store object, and one connection per thread on one file.
#include "eventsource/store_laws.hpp"

#include <bulwark/eventsource/sqlite_store.hpp>

#include <memory>

using namespace es_test;

TEST_CASE("sqlite store: the event store laws", "[eventsource][sqlite]") {
    temp_dir dir;
    bulwark::sqlite_event_store store{dir.file("events.db")};
    SECTION("append and read") {
        law_append_and_read(store);
    }
    SECTION("conflict") {
        law_conflict(store);
    }
    SECTION("idempotent retry") {
        law_idempotent_retry(store);
    }
    SECTION("snapshot + replay == full replay") {
        law_snapshot_replay(store);
    }
    SECTION("projection") {
        law_projection(store);
    }
    SECTION("outbox") {
        law_outbox(store);
    }
}

TEST_CASE("sqlite store: 8 threads on one store object, one winner per version",
          "[eventsource][sqlite][concurrency]") {
    temp_dir dir;
    bulwark::sqlite_event_store store{dir.file("events.db")};
    law_concurrent_appends([&](std::size_t) -> bulwark::sqlite_event_store& { return store; }, 40);
    law_concurrent_retry_loop([&](std::size_t) -> bulwark::sqlite_event_store& { return store; },
                              20);
}

TEST_CASE("sqlite store: 8 connections on one file, one winner per version",
          "[eventsource][sqlite][concurrency]") {
    temp_dir dir;
    std::vector<std::unique_ptr<bulwark::sqlite_event_store>> stores;
    for (int i = 0; i < 8; ++i)
        stores.push_back(std::make_unique<bulwark::sqlite_event_store>(dir.file("events.db")));
    auto per_thread = [&](std::size_t t) -> bulwark::sqlite_event_store& { return *stores[t]; };
    law_concurrent_appends(per_thread, 40);
    law_concurrent_retry_loop(per_thread, 20);
}

TEST_CASE("sqlite store: settings are durable and validated", "[eventsource][sqlite]") {
    temp_dir dir;
    bulwark::sqlite_event_store store{dir.file("events.db")};
    // Reopened in another connection: WAL is a property of the file.
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(dir.file("events.db").c_str(), &db) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);

    CHECK_THROWS_WITH(
        (bulwark::sqlite_event_store{dir.file("x.db"), {.busy_timeout = std::chrono::hours(2)}}),
        Catch::Contains("bulwark::sqlite: busy_timeout must be in [0, 1 h] (got 7200000000000ns)"));
    CHECK_THROWS_AS((bulwark::sqlite_event_store{dir.file("no/such/dir/x.db")}),
                    bulwark::store_error);
    CHECK_THROWS_WITH((bulwark::sqlite_event_store{""}),
                      Catch::Contains("bulwark::sqlite: path must be a file name"));
}

TEST_CASE("sqlite store: a locked database is a store_error, not a conflict, and writes nothing",
          "[eventsource][sqlite]") {
    temp_dir dir;
    bulwark::sqlite_event_store store{dir.file("events.db"),
                                      {.busy_timeout = std::chrono::milliseconds(20)}};
    REQUIRE(store.append("s", std::vector{ev()}, 0).has_value());
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(dir.file("events.db").c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
    auto r = store.append("s", std::vector{ev()}, 1);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == bulwark::errc::transport_error);
    CHECK(r.error().holds<bulwark::store_error>());
    CHECK_FALSE(bulwark::is_concurrency_conflict(r.error()));
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db);
    CHECK(store.version("s").value() == 1);
    CHECK(store.append("s", std::vector{ev()}, 1).has_value());
}

TEST_CASE("sqlite store: purge_sent never deletes an unsent outbox row",
          "[eventsource][sqlite][outbox]") {
    temp_dir dir;
    bulwark::sqlite_event_store store{dir.file("events.db")};
    REQUIRE(store.append("s", std::vector{ev(), ev(), ev()}, 0, "subj").has_value());
    recording_transport t;
    t.fail_after = 2;
    bulwark::outbox_relay relay{store, t};
    CHECK_FALSE(relay.relay_once().has_value());
    CHECK(store.purge_sent().value() == 2);
    CHECK(store.pending_outbox(10).value().size() == 1);
    CHECK(store.purge_sent().value() == 0);
}
