// The HTTP transport behind the full pipeline vs a bare Beast sync client doing the same GET on a
// warm keep-alive connection to the same local server (ours, tests/support/http_server.hpp), in
// the same binary and run. Counters: p50/p99 latency (µs) per request, requests/s, allocations.
//
//   cmake --preset bench && cmake --build build/bench -j2 --target bench_transport
//   build/bench/benchmarks/bench_transport --benchmark_filter=http

#include "bench_support.hpp"
#include "support/http_server.hpp"

#include <bulwark/balance/balance.hpp>
#include <bulwark/balance/p2c.hpp>
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/breaker_set.hpp>
#include <bulwark/policy/retry.hpp>
#include <bulwark/policy/timeout.hpp>
#include <bulwark/transport/http.hpp>

#include <boost/asio/connect.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <chrono>
#include <vector>

using namespace std::chrono_literals;
namespace net = boost::asio;
namespace bhttp = boost::beast::http;

namespace {

bulwark::test::http_server& server() {
    static bulwark::test::http_server srv; // 200 "ok" to everything, keep-alive
    return srv;
}

/// Times each iteration of `one()`; reports p50/p99 (µs), requests/s and allocations.
template <class F>
void measure(benchmark::State& state, F one) {
    for (int i = 0; i < 200; ++i) // warm: connection, buffers, caches
        one();
    std::vector<double> us;
    us.reserve(1 << 20);
    const auto before = bulwark::test::thread_allocations();
    for (auto _ : state) {
        const auto t0 = std::chrono::steady_clock::now();
        one();
        const auto t1 = std::chrono::steady_clock::now();
        if (us.size() < us.capacity())
            us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
    bulwark::bench::report_allocs(state, before);
    std::sort(us.begin(), us.end());
    auto pct = [&](double p) {
        return us.empty() ? 0.0 : us[static_cast<std::size_t>(p * (us.size() - 1))];
    };
    state.counters["p50_us"] = pct(0.50);
    state.counters["p99_us"] = pct(0.99);
    state.SetItemsProcessed(state.iterations());
}

void BM_http_get_bare_beast(benchmark::State& state) {
    net::io_context ioc;
    net::ip::tcp::socket sock(ioc);
    sock.connect({net::ip::make_address("127.0.0.1"), server().port()});
    sock.set_option(net::ip::tcp::no_delay(true));
    boost::beast::flat_buffer buf;
    bhttp::request<bhttp::empty_body> req{bhttp::verb::get, "/users/7", 11};
    req.set(bhttp::field::host, server().address());
    req.keep_alive(true);
    bool ok = true;
    measure(state, [&] {
        bhttp::response<bhttp::string_body> res;
        boost::system::error_code ec;
        bhttp::write(sock, req, ec);
        bhttp::read(sock, buf, res, ec);
        ok = ok && !ec && res.result_int() == 200;
        benchmark::DoNotOptimize(res);
    });
    if (!ok)
        state.SkipWithError("bare client failed");
}
BENCHMARK(BM_http_get_bare_beast)->Name("BM_http_get/bare_beast_sync")->UseRealTime();

void BM_http_get_pipeline(benchmark::State& state) {
    bulwark::registry reg{{.address = server().address()}};
    bulwark::breaker_set<std::string> breakers{{.consecutive_failures = 5, .open_for = 30s}};
    bulwark::http_transport http;
    auto client = bulwark::pipeline{
        bulwark::timeout{.total = 2s},
        bulwark::retry{.max_attempts = 3},
        bulwark::balance_with_breakers<bulwark::p2c_peak_ewma>{reg, breakers},
        bulwark::timeout{.per_attempt = 500ms},
    };
    bool ok = true;
    auto op = [&](bulwark::context& c) { return http.send({.target = "/users/7"}, c); };
    measure(state, [&] {
        bulwark::context ctx; // one per logical call, as users do: its stop source is made
        ctx.headers().set(bulwark::header::correlation_id, "bench-1"); // by the transport
        auto res = client.try_execute(op, ctx);
        ok = ok && res.has_value() && res->status == 200;
        benchmark::DoNotOptimize(res);
    });
    if (!ok)
        state.SkipWithError("pipeline call failed");
}
BENCHMARK(BM_http_get_pipeline)->Name("BM_http_get/bulwark_pipeline")->UseRealTime();

void BM_http_get_transport_only(benchmark::State& state) {
    bulwark::http_transport http;
    bulwark::context ctx;
    (void)ctx.stop_token();
    const std::string address = server().address();
    bool ok = true;
    measure(state, [&] {
        auto res = http.send(address, {.target = "/users/7"}, ctx);
        ok = ok && res.has_value();
        benchmark::DoNotOptimize(res);
    });
    if (!ok)
        state.SkipWithError("transport call failed");
}
BENCHMARK(BM_http_get_transport_only)->Name("BM_http_get/bulwark_transport")->UseRealTime();

} // namespace
