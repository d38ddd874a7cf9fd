// Trace context across an HTTP hop: the client's pipeline runs a `traced` span per attempt, the
// HTTP transport sends the context's traceparent, and the server (our Beast test server on
// loopback; only bytes cross) continues the trace in a server span whose parent is the client's
// attempt span.

#include <bulwark/observe/listener.hpp>
#include <bulwark/observe/trace.hpp>
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/retry.hpp>
#include <bulwark/transport/http.hpp>

#include "support/http_server.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <mutex>
#include <vector>

using namespace bulwark;
using namespace std::chrono_literals;

namespace {
struct span_rec {
    message_id trace;
    std::uint64_t id, parent;
    events::span_kind kind;
};
struct tracer {
    std::mutex mu;
    std::vector<span_rec> spans;
    void on(const events::span_ended& e) {
        std::lock_guard lock(mu);
        spans.push_back({{e.trace_id_hi, e.trace_id_lo}, e.span_id, e.parent_span_id, e.kind});
    }
};
} // namespace

TEST_CASE("trace context crosses an HTTP hop: same trace id, parent = the client's attempt span",
          "[observe][trace][http]") {
    tracer client_tracer, server_tracer;
    test::http_server srv([&](const test::request_info& r) {
        traceparent parent{};
        if (auto it = r.headers.find("traceparent"); it != r.headers.end())
            parent = parse_traceparent(it->second);
        span s("GET /users/{id}", events::span_kind::server, parent, server_tracer);
        return r.index == 0 ? test::reply::status_of(503) : test::reply::ok("user 7");
    });
    http_transport http;
    using traced_t = basic_traced<listener_ref<tracer>>;
    auto client = pipeline{
        traced_t{.name = "GET /users/{id}", .listener = listener_ref{client_tracer}},
        retry{.max_attempts = 2}, traced_t{.name = "GET", .listener = listener_ref{client_tracer}}};
    context ctx(std::chrono::steady_clock::now() + 10s);
    auto res = client.try_execute(
        [&](context& c) { return http.send(srv.address(), {.target = "/users/7"}, c); }, ctx);
    REQUIRE(res.has_value());
    REQUIRE(server_tracer.spans.size() == 2);
    REQUIRE(client_tracer.spans.size() == 3); // two attempts, then the call
    const auto& call = client_tracer.spans[2];
    for (int i = 0; i < 2; ++i) {
        const auto& attempt = client_tracer.spans[static_cast<std::size_t>(i)];
        const auto& served = server_tracer.spans[static_cast<std::size_t>(i)];
        CHECK(attempt.parent == call.id);
        CHECK(served.trace == call.trace);  // one trace across the hop
        CHECK(served.parent == attempt.id); // the server's parent is the client's attempt
        CHECK(served.kind == events::span_kind::server);
    }
}
