// bulwark's NATS transport beside raw cnats calls doing the same work, in the same binary,
// against one nats-server this binary starts on 127.0.0.1 (JetStream on, memory storage for the
// JetStream runs so disk noise does not decide the ratio):
// - core publish, 100-byte payload, no headers and with three envelope headers
//   (raw: natsConnection_Publish / natsConnection_PublishMsg with the same headers);
// - typed publish through bus<Topics, nats_transport, json_codec> (envelope headers, JSON,
//   schema headers) beside raw cnats doing the same work by hand (nlohmann + the same headers +
//   natsConnection_PublishMsg);
// - request/reply, 100 bytes, echo responder on another connection in this process:
//   p50 / p99 in microseconds as counters (raw: natsConnection_Request);
// - JetStream async publish with ack and a message id (raw: js_PublishAsync with
//   jsPubOptions.MsgId), 4096 in flight, timed until every ack is in;
// - JSON encode / decode of a small message (bulwark::json_codec beside nlohmann by hand).
// Targets: publish >= 0.9x raw, request p50 <= 1.1x raw, JetStream async >= 0.9x raw.
// Run: build/bench/benchmarks/bench_transport --benchmark_repetitions=3
//      --benchmark_report_aggregates_only=true
#include "support/nats_server.hpp"

#include <bulwark/channel/bus.hpp>
#include <bulwark/channel/envelope.hpp>
#include <bulwark/codec/json.hpp>
#include <bulwark/transport/nats.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

using steady = std::chrono::steady_clock;

/// The one server of this run, started on first use.
struct server_holder {
    std::unique_ptr<bulwark::testing::nats_server> server;
    std::string error;
    server_holder() {
        auto bin = bulwark::testing::nats_server_binary();
        if (bin.empty()) {
            error = "skipped: nats-server not found";
            return;
        }
        server = std::make_unique<bulwark::testing::nats_server>(bin);
    }
};
server_holder& srv() {
    static server_holder h;
    return h;
}

bool need_server(benchmark::State& state) {
    if (!srv().server) {
        state.SkipWithError(srv().error.c_str());
        return false;
    }
    return true;
}

natsConnection* raw_connect() {
    natsOptions* o = nullptr;
    natsOptions_Create(&o);
    natsOptions_SetURL(o, srv().server->url().c_str());
    natsConnection* nc = nullptr;
    natsConnection_Connect(&nc, o);
    natsOptions_Destroy(o);
    return nc;
}

bulwark::nats_transport bulwark_connect() {
    bulwark::nats_options o;
    o.servers = {srv().server->url()};
    return bulwark::nats_transport(o);
}

const std::string payload(100, 'x');
std::span<const std::byte> payload_bytes() {
    return {reinterpret_cast<const std::byte*>(payload.data()), payload.size()};
}

bulwark::header_map envelope_headers() {
    bulwark::message_metadata md;
    bulwark::stamp(md);
    bulwark::header_map h;
    bulwark::to_headers(md, h);
    return h;
}

// ---- core publish ----------------------------------------------------------------------------

void BM_publish_raw(benchmark::State& state) {
    if (!need_server(state))
        return;
    natsConnection* nc = raw_connect();
    for (auto _ : state)
        natsConnection_Publish(nc, "bench.pub", payload.data(), static_cast<int>(payload.size()));
    natsConnection_FlushTimeout(nc, 10000);
    state.SetItemsProcessed(state.iterations());
    natsConnection_Destroy(nc);
}

void BM_publish_bulwark(benchmark::State& state) {
    if (!need_server(state))
        return;
    auto t = bulwark_connect();
    bulwark::header_map none;
    for (auto _ : state)
        benchmark::DoNotOptimize(t.publish("bench.pub", none, payload_bytes()));
    (void)t.flush();
    state.SetItemsProcessed(state.iterations());
}

void BM_publish_headers_raw(benchmark::State& state) {
    if (!need_server(state))
        return;
    natsConnection* nc = raw_connect();
    auto h = envelope_headers();
    for (auto _ : state) {
        natsMsg* m = nullptr;
        natsMsg_Create(&m, "bench.pub", nullptr, payload.data(), static_cast<int>(payload.size()));
        h.for_each([&](std::string_view k, std::string_view v) {
            natsMsgHeader_Set(m, std::string(k).c_str(), std::string(v).c_str());
        });
        natsConnection_PublishMsg(nc, m);
        natsMsg_Destroy(m);
    }
    natsConnection_FlushTimeout(nc, 10000);
    state.SetItemsProcessed(state.iterations());
    natsConnection_Destroy(nc);
}

void BM_publish_headers_bulwark(benchmark::State& state) {
    if (!need_server(state))
        return;
    auto t = bulwark_connect();
    auto h = envelope_headers();
    for (auto _ : state)
        benchmark::DoNotOptimize(t.publish("bench.pub", h, payload_bytes()));
    (void)t.flush();
    state.SetItemsProcessed(state.iterations());
}

// ---- typed publish through the bus ----------------------------------------------------------

struct tick {
    static constexpr std::string_view subject = "bench.tick";
    std::string id;
    double total = 0;
    long items = 0;
    static constexpr auto json_fields =
        bulwark::json_fields(bulwark::field("id", &tick::id), bulwark::field("total", &tick::total),
                             bulwark::field("items", &tick::items));
};
using tick_topics = bulwark::topics<tick>;
const tick sample_tick{"o-12345", 99.5, 3};

void BM_bus_publish_bulwark(benchmark::State& state) {
    if (!need_server(state))
        return;
    auto t = bulwark_connect();
    bulwark::bus<tick_topics, bulwark::nats_transport, bulwark::json_codec> bus(t);
    for (auto _ : state)
        benchmark::DoNotOptimize(bus.publish(sample_tick));
    (void)t.flush();
    state.SetItemsProcessed(state.iterations());
}

void BM_bus_publish_raw(benchmark::State& state) {
    if (!need_server(state))
        return;
    natsConnection* nc = raw_connect();
    for (auto _ : state) {
        bulwark::message_metadata md;
        bulwark::stamp(md);
        bulwark::header_map h;
        bulwark::to_headers(md, h);
        nlohmann::json j;
        j["id"] = sample_tick.id;
        j["total"] = sample_tick.total;
        j["items"] = sample_tick.items;
        std::string body = j.dump();
        natsMsg* m = nullptr;
        natsMsg_Create(&m, "bench.tick", nullptr, body.data(), static_cast<int>(body.size()));
        h.for_each([&](std::string_view k, std::string_view v) {
            natsMsgHeader_Set(m, std::string(k).c_str(), std::string(v).c_str());
        });
        natsMsgHeader_Set(m, "content-type", "application/json");
        natsMsgHeader_Set(m, "schema-version", "1");
        natsConnection_PublishMsg(nc, m);
        natsMsg_Destroy(m);
    }
    natsConnection_FlushTimeout(nc, 10000);
    state.SetItemsProcessed(state.iterations());
    natsConnection_Destroy(nc);
}

// ---- request/reply ---------------------------------------------------------------------------

/// An echo responder on its own raw connection (the same for both sides).
struct echo_responder {
    natsConnection* nc = raw_connect();
    natsSubscription* sub = nullptr;
    echo_responder() {
        natsConnection_Subscribe(
            &sub, nc, "bench.echo",
            [](natsConnection* c, natsSubscription*, natsMsg* m, void*) {
                natsConnection_Publish(c, natsMsg_GetReply(m), natsMsg_GetData(m),
                                       natsMsg_GetDataLength(m));
                natsMsg_Destroy(m);
            },
            nullptr);
        natsConnection_Flush(nc);
    }
    ~echo_responder() {
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
        natsConnection_Destroy(nc);
    }
};

void report_latency(benchmark::State& state, std::vector<double>& us) {
    if (us.empty())
        return;
    std::sort(us.begin(), us.end());
    state.counters["p50_us"] = us[us.size() / 2];
    state.counters["p99_us"] = us[std::min(us.size() - 1, us.size() * 99 / 100)];
}

void BM_request_raw(benchmark::State& state) {
    if (!need_server(state))
        return;
    echo_responder echo;
    natsConnection* nc = raw_connect();
    std::vector<double> us;
    us.reserve(20000);
    for (auto _ : state) {
        auto t0 = steady::now();
        natsMsg* reply = nullptr;
        natsConnection_Request(&reply, nc, "bench.echo", payload.data(),
                               static_cast<int>(payload.size()), 5000);
        natsMsg_Destroy(reply);
        us.push_back(std::chrono::duration<double, std::micro>(steady::now() - t0).count());
    }
    report_latency(state, us);
    natsConnection_Destroy(nc);
}

void BM_request_bulwark(benchmark::State& state) {
    if (!need_server(state))
        return;
    echo_responder echo;
    auto t = bulwark_connect();
    bulwark::header_map none;
    std::vector<double> us;
    us.reserve(20000);
    for (auto _ : state) {
        auto t0 = steady::now();
        auto r = t.request("bench.echo", none, payload_bytes(), t0 + std::chrono::seconds(5));
        benchmark::DoNotOptimize(r);
        us.push_back(std::chrono::duration<double, std::micro>(steady::now() - t0).count());
    }
    report_latency(state, us);
}

// ---- JetStream async publish with ack --------------------------------------------------------

void declare_bench_stream(bulwark::nats_transport& t) {
    bulwark::jetstream js(t);
    (void)js.declare_stream({.name = "BENCH",
                             .subjects = {"bench.js.>"},
                             .storage = bulwark::stream_storage::memory,
                             .max_messages = 200000});
}

void BM_js_async_raw(benchmark::State& state) {
    if (!need_server(state))
        return;
    natsConnection* nc = raw_connect();
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 4096;
    jsCtx* js = nullptr;
    natsConnection_JetStream(&js, nc, &jo);
    {
        auto t = bulwark_connect();
        declare_bench_stream(t);
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    for (auto _ : state) {
        auto id = bulwark::message_id::generate().text();
        char text[33];
        std::memcpy(text, id.data(), 32);
        text[32] = '\0';
        po.MsgId = text;
        js_PublishAsync(js, "bench.js.x", payload.data(), static_cast<int>(payload.size()), &po);
    }
    jsPubOptions done;
    jsPubOptions_Init(&done);
    done.MaxWait = 60000;
    js_PublishAsyncComplete(js, &done);
    state.SetItemsProcessed(state.iterations());
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

void BM_js_async_bulwark(benchmark::State& state) {
    if (!need_server(state))
        return;
    auto t = bulwark_connect();
    declare_bench_stream(t);
    bulwark::jetstream js(t, {.max_async_in_flight = 4096});
    bulwark::header_map h;
    for (auto _ : state) {
        auto id = bulwark::message_id::generate().text();
        h.set(bulwark::header::message_id, {id.data(), id.size()});
        benchmark::DoNotOptimize(js.publish_async("bench.js.x", h, payload_bytes()));
    }
    (void)js.wait_async(steady::now() + std::chrono::seconds(60));
    state.SetItemsProcessed(state.iterations());
}

// ---- JSON codec ------------------------------------------------------------------------------

struct order_created {
    std::string id;
    double total = 0;
    long items = 0;
    std::string currency;
    static constexpr auto json_fields = bulwark::json_fields(
        bulwark::field("id", &order_created::id), bulwark::field("total", &order_created::total),
        bulwark::field("items", &order_created::items),
        bulwark::field("currency", &order_created::currency));
};
const order_created sample{"o-12345", 99.5, 3, "EUR"};

void BM_json_encode_bulwark(benchmark::State& state) {
    bulwark::json_codec c;
    std::vector<std::byte> out;
    for (auto _ : state) {
        out.clear();
        c.encode(sample, out);
        benchmark::DoNotOptimize(out.data());
    }
}

void BM_json_encode_nlohmann(benchmark::State& state) {
    std::vector<std::byte> out;
    for (auto _ : state) {
        out.clear();
        nlohmann::json j;
        j["id"] = sample.id;
        j["total"] = sample.total;
        j["items"] = sample.items;
        j["currency"] = sample.currency;
        std::string s = j.dump();
        out.resize(s.size());
        std::memcpy(out.data(), s.data(), s.size());
        benchmark::DoNotOptimize(out.data());
    }
}

std::vector<std::byte> encoded_sample() {
    std::vector<std::byte> out;
    bulwark::json_codec{}.encode(sample, out);
    return out;
}

void BM_json_decode_bulwark(benchmark::State& state) {
    bulwark::json_codec c;
    auto in = encoded_sample();
    for (auto _ : state)
        benchmark::DoNotOptimize(c.decode<order_created>(in));
}

void BM_json_decode_nlohmann(benchmark::State& state) {
    auto in = encoded_sample();
    for (auto _ : state) {
        const char* p = reinterpret_cast<const char*>(in.data());
        auto j = nlohmann::json::parse(p, p + in.size());
        order_created o;
        o.id = j.at("id").get<std::string>();
        o.total = j.at("total").get<double>();
        o.items = j.at("items").get<long>();
        o.currency = j.at("currency").get<std::string>();
        benchmark::DoNotOptimize(o);
    }
}

} // namespace

// Fixed iteration counts: each side does exactly the same number of operations.
BENCHMARK(BM_publish_raw)->Iterations(1000000)->UseRealTime();
BENCHMARK(BM_publish_bulwark)->Iterations(1000000)->UseRealTime();
BENCHMARK(BM_publish_headers_raw)->Iterations(300000)->UseRealTime();
BENCHMARK(BM_publish_headers_bulwark)->Iterations(300000)->UseRealTime();
BENCHMARK(BM_bus_publish_raw)->Iterations(200000)->UseRealTime();
BENCHMARK(BM_bus_publish_bulwark)->Iterations(200000)->UseRealTime();
BENCHMARK(BM_request_raw)->Iterations(5000)->UseRealTime();
BENCHMARK(BM_request_bulwark)->Iterations(5000)->UseRealTime();
BENCHMARK(BM_js_async_raw)->Iterations(100000)->UseRealTime();
BENCHMARK(BM_js_async_bulwark)->Iterations(100000)->UseRealTime();
BENCHMARK(BM_json_encode_bulwark);
BENCHMARK(BM_json_encode_nlohmann);
BENCHMARK(BM_json_decode_bulwark);
BENCHMARK(BM_json_decode_nlohmann);
