// A per-attempt timeout outside a hedge times all hedged attempts together.
// expect: per-attempt timeout is outside the retry/hedge
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/hedge.hpp>
#include <bulwark/policy/timeout.hpp>

using namespace std::chrono_literals;

int main() {
    bulwark::pipeline p{bulwark::attempt_timeout{300ms}, bulwark::hedge{.delay = 50ms}};
    return p.execute([] { return 0; });
}
