// A per-attempt timeout placed outside (before) the retry times all attempts together.
// expect: per-attempt timeout is outside the retry
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/timeout.hpp>

using namespace std::chrono_literals;

// A stand-in for bulwark::retry: any policy that declares itself a retry.
struct my_retry : bulwark::pass_through {
    static constexpr auto kind = bulwark::policy_kind::retry;
};

int main() {
    bulwark::pipeline p{bulwark::attempt_timeout{300ms}, my_retry{}};
    return p.execute([] { return 0; });
}
