// The standard pipeline (MEHR's AddStandardResilienceHandler, in bulwark): concurrency limit ->
// total timeout -> retry -> circuit breaker -> attempt timeout. Runs on a manual clock, so the
// backoff waits and timeouts below take no real time.
#include <bulwark/policy/standard.hpp>

#include <chrono>
#include <cstdio>
#include <string>

using namespace std::chrono_literals;

namespace {

long long ms(bulwark::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

template <class R>
std::string describe(const bulwark::outcome<R>& o) {
    if (o.has_value())
        return "a value";
    std::string s = o.error().error_code().message();
    if (o.error().retry_after > bulwark::duration::zero())
        s += " (retry after " +
             std::to_string(
                 std::chrono::duration_cast<std::chrono::milliseconds>(o.error().retry_after)
                     .count()) +
             " ms)";
    return s;
}

} // namespace

int main() {
    bulwark::manual_clock clock;
    auto client = bulwark::standard_pipeline(
        {.total_timeout = 5s,
         .backoff = {.base = 100ms, .cap = 1s, .jitter = bulwark::no_jitter},
         .breaker = {.window = bulwark::count_window{20},
                     .failure_rate = 0.5,
                     .minimum_calls = 10,
                     .open_for = 5s},
         .attempt_timeout = 1s,
         .clock = clock});

    // 1. A flaky service: fails twice, then answers. The retry waits 100 ms, then 200 ms.
    int calls = 0;
    int user = client.execute([&](bulwark::context& ctx) -> bulwark::outcome<int> {
        ++calls;
        std::printf("  attempt %u at t=%lld ms (deadline t=%lld ms)\n", ctx.attempt(),
                    ms(clock.now()), ms(ctx.deadline()));
        if (calls < 3)
            return bulwark::errc::transport_error;
        return 7;
    });
    std::printf("flaky service -> user %d after %d attempts\n", user, calls);

    // 2. A slow service that honours its deadline: each attempt is cut at 1 s, and the total
    //    timeout ends the call at 5 s.
    auto slow = client.try_execute([&](bulwark::context& ctx) -> bulwark::outcome<int> {
        clock.advance_to(ctx.deadline()); // "works" until the attempt's deadline, then gives up
        return bulwark::errc::timeout;
    });
    std::printf("slow service  -> %s at t=%lld ms\n", describe(slow).c_str(), ms(clock.now()));

    // 3. A dead service: the failures fill the breaker's window and it opens; the retry then
    //    meets `circuit_open` (with its retry-after) and gives up, since waiting would pass the
    //    total timeout.
    int ran = 0;
    auto dead = client.try_execute([&]() -> bulwark::outcome<int> {
        ++ran;
        return bulwark::errc::transport_error;
    });
    std::printf("dead service  -> %s; %d attempts ran; t=%lld ms\n", describe(dead).c_str(), ran,
                ms(clock.now()));

    // 4. The service is back. The first attempt is rejected by the open breaker; the retry
    //    honours its retry-after, and the half-open probe succeeds.
    auto back = client.try_execute([&] { return 42; });
    std::printf("service back  -> %s at t=%lld ms\n", describe(back).c_str(), ms(clock.now()));
    return 0;
}
