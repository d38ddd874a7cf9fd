// The README's example, compiled: a total timeout, retry with jittered exponential backoff, a
// circuit breaker and a per-attempt timeout, around a call to a (here in-process) HTTP service
// that fails its first two calls.
#include <bulwark/bulwark.hpp>

#include <cstdio>
#include <stdexcept>
#include <string>

using namespace std::chrono_literals;

struct user {
    std::string name;
};

/// Stands in for an HTTP client: honours the context's deadline, fails the first two calls.
struct fake_http {
    int calls = 0;
    user get(std::string_view path, bulwark::context& ctx) {
        ++calls;
        std::printf("  GET %.*s (attempt %u, %lld ms left)\n", static_cast<int>(path.size()),
                    path.data(), ctx.attempt(),
                    static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               ctx.remaining(bulwark::steady_clock::now()))
                                               .count()));
        if (calls <= 2)
            throw std::runtime_error("503 service unavailable");
        return user{"Ada"};
    }
};

int main() {
    fake_http http;
    auto client = bulwark::pipeline{
        bulwark::timeout{.total = 2s},
        bulwark::retry{.max_attempts = 3,
                       .backoff = bulwark::exponential_backoff{.base = 10ms,
                                                               .cap = 1s,
                                                               .jitter = bulwark::full_jitter}},
        bulwark::circuit_breaker{{.window = bulwark::count_window{100},
                                  .failure_rate = 0.5,
                                  .minimum_calls = 20,
                                  .open_for = 30s,
                                  .half_open_calls = 3}},
        bulwark::timeout{.per_attempt = 300ms},
    };
    auto u = client.execute([&](bulwark::context& ctx) { return http.get("/users/7", ctx); });
    std::printf("got user %s after %d calls\n", u.name.c_str(), http.calls);
}
