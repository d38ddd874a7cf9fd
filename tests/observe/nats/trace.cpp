// Trace context across two processes over a real nats-server: a request published in one
// process and handled in another (a fork()ed child with its own connection) keeps its trace id,
// and the handler's span records the publisher's span as its parent. Plus connection events as
// bulwark events.

#include <bulwark/channel/envelope.hpp>
#include <bulwark/observe/metrics.hpp>
#include <bulwark/observe/trace.hpp>
#include <bulwark/observe/transport/nats.hpp>
#include <bulwark/transport/nats.hpp>

#include "support/nats_server.hpp"

#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

using namespace bulwark;
using namespace std::chrono_literals;

namespace {

/// What the consumer process reports back through a pipe.
struct handled_span {
    std::uint64_t trace_hi = 0, trace_lo = 0, span_id = 0, parent_id = 0;
    std::int32_t ok = 0;
};

struct last_span {
    events::span_ended seen{};
    std::atomic<int> ended{0};
    void on(const events::span_ended& e) {
        seen = e;
        seen.attributes = nullptr;
        seen.attribute_count = 0;
        ended.fetch_add(1);
    }
};

bool read_all(int fd, void* p, std::size_t n, int timeout_ms) {
    auto* b = static_cast<char*>(p);
    while (n > 0) {
        pollfd pfd{fd, POLLIN, 0};
        if (::poll(&pfd, 1, timeout_ms) <= 0)
            return false;
        const ssize_t r = ::read(fd, b, n);
        if (r <= 0)
            return false;
        b += r;
        n -= static_cast<std::size_t>(r);
    }
    return true;
}
void write_all(int fd, const void* p, std::size_t n) {
    auto* b = static_cast<const char*>(p);
    while (n > 0) {
        const ssize_t r = ::write(fd, b, n);
        if (r <= 0)
            return;
        b += r;
        n -= static_cast<std::size_t>(r);
    }
}

/// The consumer process: connects to `url`, handles one message on `subject` inside a process
/// span continuing the message's trace, reports the span, exits.
[[noreturn]] void consumer_process(int url_fd, int ready_fd, int result_fd) {
    char url[256] = {0};
    std::uint32_t len = 0;
    if (!read_all(url_fd, &len, sizeof len, 60000) || len >= sizeof url ||
        !read_all(url_fd, url, len, 60000))
        ::_exit(2);
    handled_span out;
    std::atomic<bool> done{false};
    {
        nats_transport nats({.servers = {std::string(url, len)}, .name = "consumer"});
        auto sub = nats.subscribe("orders.placed", "", [&](const message_view& m) {
            auto md = from_headers(*m.headers);
            null_listener none;
            out.ok = md.has_value() ? 1 : 2;
            if (md.has_value()) {
                auto s = process_span(*md, m.subject, none, "nats");
                out = {s.trace_id().hi, s.trace_id().lo, s.span_id(), s.parent_span_id(), 1};
            }
            done = true;
            return settle::ack();
        });
        (void)nats.flush(std::chrono::steady_clock::now() + 5s);
        const char r = 'r';
        write_all(ready_fd, &r, 1);
        for (int i = 0; i < 3000 && !done; ++i)
            std::this_thread::sleep_for(10ms); // a hung test is stopped here, not asserted on
    }
    write_all(result_fd, &out, sizeof out);
    ::_exit(0);
}

} // namespace

TEST_CASE("trace context crosses two processes over NATS: same trace id, parent span linked",
          "[observe][trace][nats][nats-server]") {
    BULWARK_NEED_NATS(binary);
    int url_pipe[2], ready_pipe[2], result_pipe[2];
    REQUIRE(::pipe(url_pipe) == 0);
    REQUIRE(::pipe(ready_pipe) == 0);
    REQUIRE(::pipe(result_pipe) == 0);
    // Fork before this process starts any cnats thread: the child makes its own connection.
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0)
        consumer_process(url_pipe[0], ready_pipe[1], result_pipe[1]);

    testing::nats_server server(binary);
    const std::string url = server.url();
    const auto len = static_cast<std::uint32_t>(url.size());
    write_all(url_pipe[1], &len, sizeof len);
    write_all(url_pipe[1], url.data(), url.size());
    char ready = 0;
    REQUIRE(read_all(ready_pipe[0], &ready, 1, 60000));

    last_span tracer;
    std::uint64_t call_span = 0, producer_span = 0;
    message_id trace{};
    {
        nats_transport nats({.servers = {url}, .name = "producer"});
        context ctx;
        span call("POST /orders", events::span_kind::server, ctx, tracer);
        trace = call.trace_id();
        call_span = call.span_id();
        message_metadata md;
        auto p = publish_span(md, "orders.placed", tracer, &ctx, "nats");
        producer_span = p.span_id();
        stamp(md); // a message id and timestamp, as a bus's publish gives them
        header_map h;
        to_headers(md, h);
        const std::array<std::byte, 2> body{std::byte{'4'}, std::byte{'2'}};
        REQUIRE(nats.publish("orders.placed", h, body).has_value());
        (void)nats.flush(std::chrono::steady_clock::now() + 5s);
    }
    handled_span got;
    const bool reported = read_all(result_pipe[0], &got, sizeof got, 60000);
    int status = 0;
    ::waitpid(child, &status, 0);
    for (int fd :
         {url_pipe[0], url_pipe[1], ready_pipe[0], ready_pipe[1], result_pipe[0], result_pipe[1]})
        ::close(fd);
    REQUIRE(reported);
    REQUIRE(got.ok == 1);
    CHECK(WIFEXITED(status));
    CHECK(got.trace_hi == trace.hi);
    CHECK(got.trace_lo == trace.lo);
    CHECK(got.parent_id == producer_span); // the consumer's parent is the producer span
    CHECK(got.span_id != producer_span);
    CHECK(tracer.seen.parent_span_id == 0); // the last span to end was the call (a root)
    CHECK(tracer.seen.span_id == call_span);
}

TEST_CASE("NATS connection events become transport events", "[observe][nats][nats-server]") {
    BULWARK_NEED_NATS(binary);
    testing::nats_server server(binary);
    metrics_registry reg;
    auto l = reg.listener({.topic = "nats"});
    {
        nats_transport nats({.servers = {server.url()}, .listener = nats_events_to(l)});
        (void)nats.flush(std::chrono::steady_clock::now() + 5s);
    }
    auto s = l.snapshot();
    // connected (when cnats reports the first connection) and closed (reported as a
    // disconnection) at shutdown
    CHECK(s.transport.disconnects >= 1);
    CHECK_FALSE(s.transport.connected);
}
