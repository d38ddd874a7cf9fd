// The DESIGN's mistake with the real bulwark::retry: a per-attempt timeout placed before the retry.
// expect: per-attempt timeout is outside the retry
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/retry.hpp>
#include <bulwark/policy/timeout.hpp>

using namespace std::chrono_literals;

int main() {
    bulwark::pipeline p{bulwark::attempt_timeout{300ms}, bulwark::retry{.max_attempts = 3}};
    return p.execute([] { return 0; });
}
