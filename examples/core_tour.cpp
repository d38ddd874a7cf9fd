// The core model in one page: context (deadline, cancellation, headers), outcomes instead of
// exceptions, classification, and the manual clock that makes time-based behaviour testable.
#include <bulwark/bulwark.hpp>

#include <cstdio>
#include <stdexcept>

using namespace std::chrono_literals;

struct response {
    int status;
};

int main() {
    // 1. An operation sees its context: here a deadline and a caller's stop token.
    std::stop_source caller;
    bulwark::context ctx{bulwark::steady_clock::now() + 2s, caller.get_token()};
    bulwark::pipeline client{bulwark::pass_through{}};
    auto left = client.execute(
        [](bulwark::context& c) {
            return std::chrono::duration_cast<std::chrono::milliseconds>(
                c.remaining(bulwark::steady_clock::now()));
        },
        ctx);
    std::printf("1. the operation had about %lld ms left before its deadline\n",
                static_cast<long long>(left.count()));

    // 2. Failures as values: try_execute never throws for the operation.
    auto out = client.try_execute([]() -> int { throw std::runtime_error("connection reset"); });
    std::printf("2. try_execute: has_value=%d, user exception kept: %d\n", out.has_value(),
                out.error().holds<std::runtime_error>());

    // 3. Classification: a 503 is a failure for policies even though no exception was thrown.
    auto is_failure = bulwark::failure_if([](const response& r) { return r.status >= 500; });
    bool failed =
        is_failure(bulwark::outcome<response>{response{503}}) == bulwark::verdict::failure;
    std::printf("3. HTTP 503 classified as failure: %d\n", failed);

    // 4. Deterministic time: timers fire when the test says so.
    bulwark::manual_clock clock;
    auto waiter = bulwark::spawn([](bulwark::manual_clock c) -> bulwark::task<bool> {
        co_return co_await c.async_sleep_for(30s, {});
    }(clock));
    std::printf("4. before advance: done=%d; ", waiter.done());
    clock.advance(30s);
    std::printf("after advancing 30 s of manual time: done=%d, elapsed=%d\n", waiter.done(),
                waiter.get());

    // 5. Cancellation is cooperative: the caller stops, the operation sees it.
    caller.request_stop();
    std::printf("5. caller stopped -> context reports stop_requested=%d\n", ctx.stop_requested());
}
