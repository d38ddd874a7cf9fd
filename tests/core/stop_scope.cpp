// context's stop scopes (what a stopping timeout opens around its call) and the call's shared
// clock reading.
#include <bulwark/core/context.hpp>
#include <bulwark/runtime/call_time.hpp>

#include "support/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <stop_token>
#include <thread>

using namespace std::chrono_literals;

TEST_CASE("a stop scope's request stops its token, not the call's", "[core][context][stop]") {
    bulwark::context ctx;
    std::stop_token outer = ctx.stop_token();
    bulwark::stop_scope scope;
    ctx.push_stop_scope(scope);
    std::stop_token inner = ctx.stop_token();
    CHECK_FALSE(ctx.stop_requested());

    CHECK(scope.request());
    CHECK_FALSE(scope.request()); // once
    CHECK(ctx.stop_requested());
    CHECK(inner.stop_requested());
    CHECK_FALSE(outer.stop_requested());

    ctx.pop_stop_scope(scope);
    CHECK_FALSE(ctx.stop_requested()); // the scope is closed: the call goes on unstopped
}

TEST_CASE("a scope requested before its token exists hands out a stopped token",
          "[core][context][stop]") {
    bulwark::context ctx;
    bulwark::stop_scope scope;
    ctx.push_stop_scope(scope);
    scope.request();
    CHECK(ctx.stop_token().stop_requested());
    ctx.pop_stop_scope(scope);
}

TEST_CASE("the call's and the caller's stop reach the token of an inner scope",
          "[core][context][stop]") {
    std::stop_source caller;
    bulwark::context ctx{caller.get_token()};
    bulwark::stop_scope a, b;
    ctx.push_stop_scope(a);
    ctx.push_stop_scope(b);
    std::stop_token inner = ctx.stop_token();
    caller.request_stop();
    CHECK(inner.stop_requested());
    CHECK(ctx.stop_requested());
    ctx.pop_stop_scope(b);
    ctx.pop_stop_scope(a);

    bulwark::context own;
    bulwark::stop_scope s;
    own.push_stop_scope(s);
    std::stop_token t = own.stop_token();
    CHECK(own.request_stop());
    CHECK(t.stop_requested());
    own.pop_stop_scope(s);
    CHECK(own.stop_requested()); // the call's own request outlives the scope
}

TEST_CASE("requesting and checking stop allocate nothing", "[core][context][stop][alloc]") {
    bulwark::test::alloc_scope allocs;
    for (int i = 0; i < 100; ++i) {
        bulwark::context ctx;
        bulwark::stop_scope s;
        ctx.push_stop_scope(s);
        CHECK_FALSE(ctx.stop_requested());
        s.request();
        CHECK(ctx.stop_requested());
        ctx.pop_stop_scope(s);
        ctx.request_stop();
        CHECK(ctx.stop_requested());
    }
    CHECK(allocs.count() == 0);
}

TEST_CASE("a scope's request from another thread and the owner's token creation never miss",
          "[core][context][stop][concurrency]") {
    for (int i = 0; i < 2000; ++i) {
        bulwark::context ctx;
        bulwark::stop_scope s;
        ctx.push_stop_scope(s);
        std::thread other([&] { s.request(); });
        std::stop_token t = ctx.stop_token(); // races with the request
        other.join();
        CHECK(t.stop_requested());
        ctx.pop_stop_scope(s);
    }
}

TEST_CASE("one clock reading per call: shared until the call, an attempt or a wait moves on",
          "[core][context][time]") {
    bulwark::manual_clock clock;
    bulwark::any_clock any = clock;
    bulwark::context ctx;
    const bulwark::time_point first = bulwark::detail::call_now(ctx, any, true);
    clock.advance(5ms);
    CHECK(bulwark::detail::call_now(ctx, any, true) == first); // the shared reading
    ctx.set_attempt(2);                                        // a new attempt reads afresh
    CHECK(bulwark::detail::call_now(ctx, any, true) == first + 5ms);
    clock.advance(5ms);
    ctx.clear_call_time(); // what a pipeline does at entry, and a policy after a wait
    CHECK(bulwark::detail::call_now(ctx, any, true) == first + 10ms);

    bulwark::manual_clock other; // another time line is not shared
    CHECK(bulwark::detail::call_now(ctx, bulwark::any_clock{other}, true) == bulwark::time_point{});

    bulwark::any_clock real;
    bulwark::context rt;
    const bulwark::time_point coarse = bulwark::detail::call_now(rt, real, true);
    CHECK(bulwark::detail::call_now(rt, real, true) == coarse);
    CHECK(coarse <= real.now()); // the coarse clock is never ahead
}
