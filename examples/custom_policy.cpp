// A policy of your own, composed with bulwark's: a struct with `execute(next, ctx)` for the
// synchronous driver and `async_execute(next, ctx)` for the coroutine driver. This one times each
// attempt and tags the call with a correlation id when it has none.
//
// Both halves return `bulwark::next_result_t<Next>`: whatever `next(ctx)` returns (an
// `outcome<R>` in execute, a `task<outcome<R>>` in async_execute). Not `task<decltype(next(ctx))>`,
// which would be a task of a task: the pipeline rejects it with "async_execute must return
// next_result_t<Next> (got ...)".
#include <bulwark/bulwark.hpp>

#include <chrono>
#include <cstdio>

struct correlate_and_time {
    int* calls; // state the policy reports into (a counter here; a metrics sink in real code)

    template <class Next>
    bulwark::next_result_t<Next> execute(Next&& next, bulwark::context& ctx) {
        if (!ctx.headers().contains(bulwark::header::correlation_id))
            ctx.headers().set(bulwark::header::correlation_id, "req-0001");
        auto start = std::chrono::steady_clock::now();
        auto out = next(ctx); // everything inside this policy, down to the operation
        auto us =
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start);
        ++*calls;
        std::printf("  attempt %u took %.1f us, %s\n", ctx.attempt(), us.count(),
                    out.has_value() ? "succeeded" : out.error().error_code().message().c_str());
        return out;
    }

    // The coroutine half: the same logic, with `co_await next(ctx)` and `co_return`.
    template <class Next>
    bulwark::next_result_t<Next> async_execute(Next&& next, bulwark::context& ctx) {
        if (!ctx.headers().contains(bulwark::header::correlation_id))
            ctx.headers().set(bulwark::header::correlation_id, "req-async");
        auto start = std::chrono::steady_clock::now();
        auto out = co_await next(ctx);
        auto us =
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start);
        ++*calls;
        std::printf("  async attempt %u took %.1f us, %s\n", ctx.attempt(), us.count(),
                    out.has_value() ? "succeeded" : out.error().error_code().message().c_str());
        co_return out;
    }
};

int main() {
    int calls = 0;
    bulwark::pipeline client{correlate_and_time{&calls}};
    int v = client.execute([](bulwark::context& ctx) {
        std::printf("  operation sees correlation id %s\n",
                    std::string(*ctx.headers().get(bulwark::header::correlation_id)).c_str());
        return 42;
    });
    std::printf("result %d after %d call(s)\n", v, calls);

    // The coroutine driver: the operation returns a task, and so does the pipeline.
    int w =
        bulwark::sync_wait(client.async_execute([](bulwark::context& ctx) -> bulwark::task<int> {
            std::printf("  async operation sees correlation id %s\n",
                        std::string(*ctx.headers().get(bulwark::header::correlation_id)).c_str());
            co_return 43;
        }));
    std::printf("async result %d after %d call(s)\n", w, calls);
}
