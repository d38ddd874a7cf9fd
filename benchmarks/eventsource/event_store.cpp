// Event store append throughput (events/s, batches of 1 and 100) and read latency (100 events of
// one stream), for the SQLite and JetStream stores, each beside its peer doing the same work in
// the same run: a plain SQLite insert loop (same pragmas: WAL, synchronous=FULL; same schema key;
// one transaction per batch) and raw js_Publish (one message per append with the same
// expected-last-subject-sequence header).
#include "bench_support.hpp"

#include <bulwark/eventsource/memory_store.hpp>

#if BULWARK_BENCH_SQLITE
#include <bulwark/eventsource/sqlite_store.hpp>
#endif
#if BULWARK_BENCH_NATS
#include "support/nats_server.hpp"
#include <bulwark/eventsource/jetstream_store.hpp>
#endif

#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

std::vector<bulwark::event_data> make_batch(std::size_t n) {
    std::vector<bulwark::event_data> out;
    for (std::size_t i = 0; i < n; ++i)
        out.push_back({bulwark::new_event_id(), "item_added",
                       std::string(200, 'x')}); // 200-byte bodies, as the reference measured
    return out;
}

std::string temp_file(const std::string& name) {
    std::random_device rd;
    auto dir = std::filesystem::temp_directory_path() / ("bulwark-bench-" + std::to_string(rd()));
    std::filesystem::create_directories(dir);
    return (dir / name).string();
}

void BM_memory_append(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    bulwark::memory_event_store store;
    std::uint64_t v = 0;
    for (auto _ : state) {
        auto batch = make_batch(n);
        auto r = store.append("s", batch, v);
        v = r->last_version;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_memory_append)->Name("BM_append/memory/bulwark")->Arg(1)->Arg(100);

#if BULWARK_BENCH_SQLITE
void BM_sqlite_append(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    auto path = temp_file("events.db");
    bulwark::sqlite_event_store store{path};
    std::uint64_t v = 0;
    for (auto _ : state) {
        state.PauseTiming();
        auto batch = make_batch(n);
        state.ResumeTiming();
        auto r = store.append("s", batch, v);
        if (!r)
            state.SkipWithError("append failed");
        v = r->last_version;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
    std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}
BENCHMARK(BM_sqlite_append)->Name("BM_append/sqlite/bulwark")->Arg(1)->Arg(100)->UseRealTime();

// The peer: the same rows, keys, pragmas and one transaction per batch, hand-written.
void BM_sqlite_plain(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    auto path = temp_file("plain.db");
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                 "CREATE TABLE ev(position INTEGER PRIMARY KEY, stream TEXT, version INTEGER,"
                 " id TEXT, type TEXT, payload BLOB, UNIQUE(stream, version));",
                 nullptr, nullptr, nullptr);
    sqlite3_stmt* ins = nullptr;
    sqlite3_prepare_v2(db, "INSERT INTO ev(stream, version, id, type, payload) VALUES(?,?,?,?,?)",
                       -1, &ins, nullptr);
    std::int64_t v = 0;
    for (auto _ : state) {
        state.PauseTiming();
        auto batch = make_batch(n);
        state.ResumeTiming();
        sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
        for (const auto& e : batch) {
            sqlite3_bind_text(ins, 1, "s", 1, SQLITE_STATIC);
            sqlite3_bind_int64(ins, 2, ++v);
            sqlite3_bind_text(ins, 3, e.id.data(), static_cast<int>(e.id.size()), SQLITE_STATIC);
            sqlite3_bind_text(ins, 4, e.type.data(), static_cast<int>(e.type.size()),
                              SQLITE_STATIC);
            sqlite3_bind_blob(ins, 5, e.payload.data(), static_cast<int>(e.payload.size()),
                              SQLITE_STATIC);
            sqlite3_step(ins);
            sqlite3_reset(ins);
        }
        sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
    sqlite3_finalize(ins);
    sqlite3_close(db);
    std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}
BENCHMARK(BM_sqlite_plain)
    ->Name("BM_append/sqlite/plain_insert_loop")
    ->Arg(1)
    ->Arg(100)
    ->UseRealTime();

void BM_sqlite_read(benchmark::State& state) {
    auto path = temp_file("events.db");
    bulwark::sqlite_event_store store{path};
    (void)store.append("s", make_batch(100), 0);
    for (auto _ : state)
        benchmark::DoNotOptimize(store.read("s", 1)->size());
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 100));
    std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}
BENCHMARK(BM_sqlite_read)->Name("BM_read100/sqlite/bulwark");

void BM_sqlite_read_plain(benchmark::State& state) {
    auto path = temp_file("events.db");
    {
        bulwark::sqlite_event_store store{path};
        (void)store.append("s", make_batch(100), 0);
    }
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    sqlite3_stmt* sel = nullptr;
    sqlite3_prepare_v2(db,
                       "SELECT position, version, id, type, payload, metadata FROM "
                       "bulwark_events WHERE stream = ?1 AND version >= ?2 ORDER BY version",
                       -1, &sel, nullptr);
    for (auto _ : state) {
        sqlite3_bind_text(sel, 1, "s", 1, SQLITE_STATIC);
        sqlite3_bind_int64(sel, 2, 1);
        std::vector<std::string> rows;
        while (sqlite3_step(sel) == SQLITE_ROW)
            rows.emplace_back(static_cast<const char*>(sqlite3_column_blob(sel, 4)),
                              static_cast<std::size_t>(sqlite3_column_bytes(sel, 4)));
        sqlite3_reset(sel);
        benchmark::DoNotOptimize(rows.size());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 100));
    sqlite3_finalize(sel);
    sqlite3_close(db);
    std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}
BENCHMARK(BM_sqlite_read_plain)->Name("BM_read100/sqlite/plain_select");
#endif

#if BULWARK_BENCH_NATS
struct nats_env {
    std::unique_ptr<bulwark::testing::nats_server> server;
    std::unique_ptr<bulwark::nats_transport> nats;
    static nats_env& get() {
        static nats_env env = [] {
            nats_env e;
            auto bin = bulwark::testing::nats_server_binary();
            if (bin.empty())
                return e;
            e.server = std::make_unique<bulwark::testing::nats_server>(bin);
            e.nats = std::make_unique<bulwark::nats_transport>(
                bulwark::nats_options{.servers = {e.server->url()}, .send_asap = true});
            return e;
        }();
        return env;
    }
};

void BM_js_append(benchmark::State& state) {
    auto& env = nats_env::get();
    if (!env.nats) {
        state.SkipWithError("skipped: nats-server not found");
        return;
    }
    const auto n = static_cast<std::size_t>(state.range(0));
    static int run = 0;
    bulwark::jetstream_event_store store{*env.nats,
                                         {.stream = "BENCH_ES" + std::to_string(++run),
                                          .subject_prefix = "bench.es" + std::to_string(run)}};
    std::uint64_t v = 0;
    for (auto _ : state) {
        state.PauseTiming();
        auto batch = make_batch(n);
        state.ResumeTiming();
        auto r = store.append("s", batch, v);
        if (!r) {
            state.SkipWithError("append failed");
            break;
        }
        v = r->last_version;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_js_append)->Name("BM_append/jetstream/bulwark")->Arg(1)->Arg(100)->UseRealTime();

// The peer: js_Publish of the same framed body with the same expectation, by hand.
void BM_js_publish_raw(benchmark::State& state) {
    auto& env = nats_env::get();
    if (!env.nats) {
        state.SkipWithError("skipped: nats-server not found");
        return;
    }
    const auto n = static_cast<std::size_t>(state.range(0));
    static int run = 0;
    const std::string name = "BENCH_RAW" + std::to_string(++run);
    const std::string subject = "bench.raw" + std::to_string(run) + ".s";
    bulwark::jetstream js(*env.nats);
    js.declare_stream({.name = name, .subjects = {"bench.raw" + std::to_string(run) + ".>"}})
        .value();
    std::uint64_t last = 0;
    for (auto _ : state) {
        state.PauseTiming();
        auto batch = make_batch(n);
        std::string body;
        for (const auto& e : batch)
            for (const auto* f : {&e.id, &e.type, &e.payload, &e.metadata})
                bulwark::detail::es::frame(body, *f);
        state.ResumeTiming();
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MsgId = batch.front().id.c_str();
        if (last == 0)
            po.ExpectNoMessage = true;
        else
            po.ExpectLastSubjectSeq = last;
        jsPubAck* pa = nullptr;
        if (js_Publish(&pa, js.native_handle(), subject.c_str(), body.data(),
                       static_cast<int>(body.size()), &po, nullptr) != NATS_OK) {
            state.SkipWithError("publish failed");
            break;
        }
        last = pa->Sequence;
        jsPubAck_Destroy(pa);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_js_publish_raw)
    ->Name("BM_append/jetstream/raw_js_Publish")
    ->Arg(1)
    ->Arg(100)
    ->UseRealTime();

void BM_js_read(benchmark::State& state) {
    auto& env = nats_env::get();
    if (!env.nats) {
        state.SkipWithError("skipped: nats-server not found");
        return;
    }
    bulwark::jetstream_event_store store{*env.nats,
                                         {.stream = "BENCH_READ", .subject_prefix = "bench.read"}};
    if (store.version("s").value() == 0)
        for (int i = 0; i < 100; ++i)
            (void)store.append("s", make_batch(1), static_cast<std::uint64_t>(i));
    for (auto _ : state)
        benchmark::DoNotOptimize(store.read("s", 1)->size());
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 100));
}
BENCHMARK(BM_js_read)->Name("BM_read100/jetstream/bulwark (100 appends of 1)")->UseRealTime();
#endif

} // namespace
