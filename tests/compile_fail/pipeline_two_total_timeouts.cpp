// Two policies that declare themselves total timeouts.
// expect: two total timeouts; keep one
#include <bulwark/pipeline.hpp>

struct my_total_timeout : bulwark::pass_through {
    static constexpr auto kind = bulwark::policy_kind::total_timeout;
};

int main() {
    bulwark::pipeline p{my_total_timeout{}, my_total_timeout{}};
    return p.execute([] { return 0; });
}
