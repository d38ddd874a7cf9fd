// Two total timeouts in one pipeline: the typed timeouts make it a compile error.
// expect: two total timeouts; keep one
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/timeout.hpp>

using namespace std::chrono_literals;

int main() {
    bulwark::pipeline p{bulwark::total_timeout{2s}, bulwark::total_timeout{.limit = 1s}};
    return p.execute([] { return 0; });
}
