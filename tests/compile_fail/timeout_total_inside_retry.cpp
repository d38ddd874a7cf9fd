// A total timeout placed inside the retry restarts on every attempt.
// expect: total timeout is inside the retry
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/timeout.hpp>

using namespace std::chrono_literals;

// A stand-in for bulwark::retry: any policy that declares itself a retry.
struct my_retry : bulwark::pass_through {
    static constexpr auto kind = bulwark::policy_kind::retry;
};

int main() {
    bulwark::pipeline p{my_retry{}, bulwark::total_timeout{2s}};
    return p.execute([] { return 0; });
}
