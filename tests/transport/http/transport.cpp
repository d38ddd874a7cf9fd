// The HTTP transport against our own fault-injecting Beast server on loopback: round trips,
// keep-alive reuse, headers from the context, status classification and Retry-After, every
// fault class, deadlines and stop tokens, pool limits, allocations on a warm connection.

#include <bulwark/transport/http.hpp>

#include "support/alloc_counter.hpp"
#include "support/http_server.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <thread>

using namespace std::chrono_literals;
using bulwark::test::http_server;
using bulwark::test::reply;
using bulwark::test::request_info;

namespace {
bulwark::context within(bulwark::duration d) {
    return bulwark::context(std::chrono::steady_clock::now() + d);
}
// Waits (bounded, real time) until the server closed every connection it accepted.
bool eventually_closed(const http_server& srv) {
    for (int i = 0; i < 1000 && srv.open() != 0; ++i)
        std::this_thread::sleep_for(5ms);
    return srv.open() == 0;
}

// A coroutine call (parameters by value: the frame owns them).
bulwark::task<bulwark::outcome<bulwark::http_response>>
async_get(bulwark::http_transport<>& http, std::string address, std::string target,
          bulwark::duration limit, std::stop_token stop = {}) {
    bulwark::context ctx(std::chrono::steady_clock::now() + limit, stop);
    co_return co_await http.async_send(address, {.target = target}, ctx);
}
} // namespace

TEST_CASE("http: a GET round trip over one kept-alive connection", "[transport][http]") {
    http_server srv([](const request_info& r) { return reply::ok("hello " + r.target); });
    bulwark::http_transport http;
    for (int i = 0; i < 5; ++i) {
        auto ctx = within(5s);
        auto res = http.send(srv.address(), {.target = "/users/7"}, ctx);
        REQUIRE(res.has_value());
        CHECK(res->status == 200);
        CHECK(res->body == "hello /users/7");
        CHECK(res->headers.get("content-type") == std::string_view("text/plain"));
    }
    CHECK(srv.accepted() == 1); // one connection, reused
    CHECK(srv.requests() == 5);
    CHECK(http.open_connections() == 1);
    CHECK(http.idle_connections() == 1);
}

TEST_CASE("http: a POST sends its body and the context's tracing headers", "[transport][http]") {
    http_server srv([](const request_info& r) { return reply::ok(r.body); });
    bulwark::http_transport http;
    auto ctx = within(5s);
    ctx.headers().set(bulwark::header::correlation_id, "corr-42");
    ctx.headers().set(bulwark::header::traceparent,
                      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    bulwark::http_request req{.method = bulwark::http_method::post,
                              .target = "/orders",
                              .body = "{\"id\":1}",
                              .content_type = "application/json"};
    req.headers.set("x-tenant", "t1");
    auto res = http.send(srv.address(), req, ctx);
    REQUIRE(res.has_value());
    CHECK(res->body == "{\"id\":1}");
    const auto seen = srv.last_request();
    CHECK(seen.method == "POST");
    CHECK(seen.headers.at("correlation-id") == "corr-42");
    CHECK(seen.headers.at("traceparent") ==
          "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    CHECK(seen.headers.at("x-tenant") == "t1");
    CHECK(seen.headers.at("content-type") == "application/json");
    CHECK(seen.headers.at("host") == srv.address());
    CHECK(seen.headers.at("user-agent") == "bulwark");
}

TEST_CASE("http: the endpoint comes from the context", "[transport][http]") {
    http_server srv;
    bulwark::http_transport http;
    struct ep : bulwark::endpoint_identity {
        using endpoint_identity::endpoint_identity;
    } e({.address = srv.address()});
    auto ctx = within(5s);
    CHECK(http.send({}, ctx).code() == bulwark::errc::no_endpoint);
    ctx.set_endpoint(&e);
    CHECK(http.send({}, ctx).has_value());
}

TEST_CASE("http: 5xx, 429 and 408 are failures carrying the response; others are values",
          "[transport][http]") {
    unsigned status = 200;
    http_server srv([&](const request_info&) { return reply::status_of(status); });
    bulwark::http_transport http;
    for (unsigned s : {500u, 502u, 503u, 504u, 429u, 408u}) {
        status = s;
        auto ctx = within(5s);
        auto res = http.send(srv.address(), {}, ctx);
        REQUIRE(res.has_failure());
        CHECK(res.code() == bulwark::errc::transport_error);
        CHECK(bulwark::http_status_of(res.error()) == s);
        CHECK(res.error().holds<bulwark::http_status_error>());
    }
    for (unsigned s : {200u, 201u, 204u, 404u, 409u}) {
        status = s;
        auto ctx = within(5s);
        auto res = http.send(srv.address(), {}, ctx);
        REQUIRE(res.has_value());
        CHECK(res->status == s);
    }
    CHECK(srv.accepted() == 1); // failing statuses keep the connection
}

TEST_CASE("http: status classification is the user's to override", "[transport][http]") {
    http_server srv([](const request_info& r) {
        return reply::status_of(r.target == "/conflict" ? 409 : 503);
    });
    auto only_409 = [](unsigned s) { return s == 409; };
    bulwark::http_transport<decltype(only_409)> http({}, only_409);
    auto c1 = within(5s);
    CHECK(http.send(srv.address(), {.target = "/conflict"}, c1).has_failure());
    auto c2 = within(5s);
    auto res = http.send(srv.address(), {.target = "/other"}, c2);
    REQUIRE(res.has_value());
    CHECK(res->status == 503);
}

TEST_CASE("http: Retry-After becomes the failure's retry_after (seconds, date, junk)",
          "[transport][http]") {
    std::string after;
    http_server srv([&](const request_info&) { return reply::status_of(503, after); });
    bulwark::http_transport http({.max_retry_after = 30s});
    auto call = [&] {
        auto ctx = within(5s);
        return http.send(srv.address(), {}, ctx);
    };
    after = "";
    CHECK(call().error().retry_after == bulwark::duration::zero());
    after = "2";
    CHECK(call().error().retry_after == 2s);
    after = "99999999999999999999";
    CHECK(call().error().retry_after == 30s); // clamped, no overflow
    after = "soon";
    CHECK(call().error().retry_after == bulwark::duration::zero());
    after = "Sun, 06 Nov 1994 08:49:37 GMT"; // in the past: ignored
    CHECK(call().error().retry_after == bulwark::duration::zero());
}

TEST_CASE("http: parse_retry_after reads the three HTTP-date forms", "[transport][http]") {
    using namespace std::chrono;
    const auto now = sys_days{1994y / November / 6} + 8h + 49min + 30s;
    CHECK(bulwark::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 60s, now) == 7s);
    CHECK(bulwark::parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", 60s, now) == 7s);
    CHECK(bulwark::parse_retry_after("Sun Nov  6 08:49:37 1994", 60s, now) == 7s);
    CHECK(bulwark::parse_retry_after(" 5 ", 60s, now) == 5s);
    CHECK(!bulwark::parse_retry_after("Sun, 31 Feb 1994 08:49:37 GMT", 60s, now));
    CHECK(!bulwark::parse_retry_after("-1", 60s, now));
    CHECK(!bulwark::parse_retry_after("", 60s, now));
    CHECK(!bulwark::parse_retry_after("Sun, 06 Nov 1994 08:49:37 UTC", 60s, now));
}

TEST_CASE("http: faults come back as classified errors, never hangs", "[transport][http]") {
    reply next;
    http_server srv([&](const request_info&) { return next; });
    bulwark::http_transport http;
    auto call = [&](bulwark::duration limit = 5s) {
        auto ctx = within(limit);
        return http.send(srv.address(), {}, ctx);
    };

    SECTION("connection reset") {
        next = reply::with(reply::fault::reset);
        CHECK(call().code() == bulwark::errc::transport_error);
    }
    SECTION("close before the response") {
        next = reply::with(reply::fault::close);
        CHECK(call().code() == bulwark::errc::transport_error);
    }
    SECTION("truncated body") {
        next = reply::with(reply::fault::truncated_body);
        CHECK(call().code() == bulwark::errc::transport_error);
    }
    SECTION("partial headers, then nothing (slowloris): the deadline ends it") {
        next = reply::with(reply::fault::partial_headers);
        CHECK(call(200ms).code() == bulwark::errc::timeout);
    }
    SECTION("a delay beyond the deadline: timed out, and the server sees the client leave") {
        next = reply::slow(10s);
        CHECK(call(100ms).code() == bulwark::errc::timeout);
        for (int i = 0; i < 500 && srv.abandoned() == 0; ++i) // waits only for the server thread
            std::this_thread::sleep_for(10ms);
        CHECK(srv.abandoned() == 1);
    }
    SECTION("connection refused") {
        std::string gone;
        {
            http_server other;
            gone = other.address();
        }
        auto ctx = within(5s);
        CHECK(http.send(gone, {}, ctx).code() == bulwark::errc::transport_error);
    }
    SECTION("a bad address") {
        auto ctx = within(5s);
        CHECK(http.send("no-port", {}, ctx).code() == bulwark::errc::transport_error);
    }
    // After any fault the transport holds no broken connection, and the next call works.
    next = reply::ok();
    CHECK(call().has_value());
    CHECK(http.open_connections() == 1);
}

TEST_CASE("http: a stop request cancels the socket of a call in flight", "[transport][http]") {
    http_server srv([](const request_info&) { return reply::slow(30s); });
    bulwark::http_transport http;
    std::stop_source caller;
    auto result = std::async(std::launch::async, [&] {
        bulwark::context ctx(std::chrono::steady_clock::now() + 60s, caller.get_token());
        return http.send(srv.address(), {}, ctx);
    });
    while (srv.requests() == 0) // the request reached the server: the call is waiting on I/O
        std::this_thread::sleep_for(1ms);
    caller.request_stop();
    REQUIRE(result.wait_for(60s) == std::future_status::ready); // generous: only stops a hang
    CHECK(result.get().code() == bulwark::errc::cancelled);
    CHECK(http.open_connections() == 0);                  // the cancelled connection is not pooled
    for (int i = 0; i < 500 && srv.abandoned() == 0; ++i) // waits only for the server thread
        std::this_thread::sleep_for(10ms);
    CHECK(srv.abandoned() == 1); // the server saw the socket close
}

TEST_CASE("http: a call already stopped or past its deadline sends nothing", "[transport][http]") {
    http_server srv;
    bulwark::http_transport http;
    std::stop_source s;
    s.request_stop();
    bulwark::context stopped(s.get_token());
    CHECK(http.send(srv.address(), {}, stopped).code() == bulwark::errc::cancelled);
    bulwark::context late(std::chrono::steady_clock::now() - 1ms);
    CHECK(http.send(srv.address(), {}, late).code() == bulwark::errc::timeout);
    CHECK(srv.requests() == 0);
}

TEST_CASE("http: header injection is refused before anything is sent", "[transport][http]") {
    http_server srv;
    bulwark::http_transport http;
    bulwark::http_request req;
    req.headers.set("x-evil", "a\r\nHost: other");
    auto ctx = within(5s);
    CHECK(http.send(srv.address(), req, ctx).code() == bulwark::errc::invalid_argument);
    auto c2 = within(5s);
    CHECK(http.send(srv.address(), {.target = "/a b\r\n"}, c2).code() ==
          bulwark::errc::invalid_argument);
    CHECK(srv.requests() == 0);
}

TEST_CASE("http: a kept-alive connection the server closed is replaced once", "[transport][http]") {
    http_server srv([](const request_info& r) {
        reply x = reply::ok();
        x.close_after = r.index == 0; // "Connection: close" on the first answer
        return x;
    });
    bulwark::http_transport http;
    auto c1 = within(5s);
    REQUIRE(http.send(srv.address(), {}, c1).has_value());
    CHECK(http.open_connections() == 0); // Connection: close is honoured
    auto c2 = within(5s);
    REQUIRE(http.send(srv.address(), {}, c2).has_value());
    CHECK(srv.accepted() == 2);
}

TEST_CASE("http: a pooled connection the server dropped silently is replaced, once",
          "[transport][http]") {
    http_server srv([](const request_info& r) {
        reply x = reply::ok();
        x.drop_after = r.index == 0; // keep-alive promised, then the socket is closed
        return x;
    });
    bulwark::http_transport http;
    auto c1 = within(5s);
    REQUIRE(http.send(srv.address(), {}, c1).has_value());
    REQUIRE(eventually_closed(srv));
    auto c2 = within(5s); // the pooled socket is dead: a GET is re-sent on a fresh one
    CHECK(http.send(srv.address(), {}, c2).has_value());
    CHECK(srv.accepted() == 2);
}

TEST_CASE("http: a connection idle past idle_timeout is not reused", "[transport][http]") {
    http_server srv;
    bulwark::http_transport http({.idle_timeout = 1ms});
    auto c1 = within(5s);
    REQUIRE(http.send(srv.address(), {}, c1).has_value());
    std::this_thread::sleep_for(5ms); // real time: the pool reads the steady clock
    auto c2 = within(5s);
    REQUIRE(http.send(srv.address(), {}, c2).has_value());
    CHECK(srv.accepted() == 2);
    CHECK(http.close_idle(true) == 1);
    CHECK(http.open_connections() == 0);
}

TEST_CASE("http: the pool caps connections per endpoint; a waiter gets one or fails",
          "[transport][http]") {
    std::atomic<bool> release{false};
    http_server srv([&](const request_info& r) {
        if (r.target == "/hold")
            while (!release.load())
                std::this_thread::sleep_for(1ms);
        return reply::ok();
    });
    bulwark::http_transport http({.max_connections = 1, .acquire_timeout = 50ms});
    auto holder = std::async(std::launch::async, [&] {
        auto ctx = within(60s);
        return http.send(srv.address(), {.target = "/hold"}, ctx);
    });
    while (srv.requests() == 0)
        std::this_thread::sleep_for(1ms);
    auto ctx = within(60s);
    CHECK(http.send(srv.address(), {}, ctx).code() == bulwark::errc::bulkhead_full);
    release = true;
    REQUIRE(holder.wait_for(60s) == std::future_status::ready);
    CHECK(holder.get().has_value());
    auto again = within(5s);
    CHECK(http.send(srv.address(), {}, again).has_value());
    CHECK(srv.accepted() == 1);
}

TEST_CASE("http: bad options are refused with a clear message", "[transport][http]") {
    CHECK_THROWS_WITH(
        bulwark::http_transport<>({.max_connections = 0}),
        Catch::Contains("bulwark::http_transport: max_connections must be >= 1 (got 0)"));
    CHECK_THROWS_AS(bulwark::http_transport<>({.io_timeout = 0s}), bulwark::invalid_argument_error);
    CHECK_THROWS_AS(bulwark::http_transport<>({.user_agent = "a\r\nb"}),
                    bulwark::invalid_argument_error);
}

TEST_CASE("http: no allocation per request on a warm keep-alive connection",
          "[transport][http][alloc]") {
    http_server srv;
    bulwark::http_transport http;
    bulwark::context ctx;
    ctx.headers().set(bulwark::header::correlation_id, "c-1");
    (void)ctx.stop_token(); // the context's stop source: once per logical call, not per request
    for (int i = 0; i < 3; ++i) { // warm: connection, buffers, frame storage, Asio's recyclers
        ctx.restore_deadline(std::chrono::steady_clock::now() + 5s);
        REQUIRE(http.send(srv.address(), {.target = "/x"}, ctx).has_value());
    }
    constexpr int n = 50;
    const std::string address = srv.address();
    int ok = 0;
    bulwark::test::alloc_scope scope;
    for (int i = 0; i < n; ++i) {
        ctx.restore_deadline(std::chrono::steady_clock::now() + 5s);
        auto res = http.send(address, {.target = "/x"}, ctx);
        ok += res.has_value() ? 1 : 0;
    }
    const std::size_t count = scope.count();
    CHECK(ok == n);
    const double per_request = static_cast<double>(count) / n;
    INFO("allocations per request: " << per_request);
    if (bulwark::test::alloc_counting_enabled())
        CHECK(count == 0);
    CHECK(srv.accepted() == 1);
}

TEST_CASE("http: coroutine calls run on the transport's I/O thread", "[transport][http][async]") {
    http_server srv([](const request_info& r) {
        return r.target == "/slow" ? reply::slow(10s) : reply::ok("async");
    });
    bulwark::http_transport http;
    auto call = [&](std::string_view target, bulwark::duration limit) {
        return async_get(http, srv.address(), std::string(target), limit);
    };
    for (int i = 0; i < 3; ++i) {
        auto res = bulwark::sync_wait(call("/", 5s));
        REQUIRE(res.has_value());
        CHECK(res->body == "async");
    }
    CHECK(srv.accepted() == 1);
    CHECK(bulwark::sync_wait(call("/slow", 100ms)).code() == bulwark::errc::timeout);

    // A stop request closes the socket through the connection's strand.
    std::stop_source caller;
    auto fut = std::async(std::launch::async, [&] {
        return bulwark::sync_wait(async_get(http, srv.address(), "/slow", 60s, caller.get_token()));
    });
    const auto before = srv.requests();
    while (srv.requests() == before)
        std::this_thread::sleep_for(1ms);
    caller.request_stop();
    REQUIRE(fut.wait_for(60s) == std::future_status::ready);
    CHECK(fut.get().code() == bulwark::errc::cancelled);
}
