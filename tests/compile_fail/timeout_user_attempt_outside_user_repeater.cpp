// A user's own repeater and per-attempt timeout take part in the composition rules through
// bulwark::policy_traits, without borrowing a built-in policy_kind.
// expect: per-attempt timeout is outside the retry
#include <bulwark/pipeline.hpp>

struct my_repeater : bulwark::pass_through {};
struct my_attempt_deadline : bulwark::pass_through {};

template <>
struct bulwark::policy_traits<my_repeater> {
    static constexpr bulwark::composition_role role = bulwark::composition_role::repeater;
};
template <>
struct bulwark::policy_traits<my_attempt_deadline> {
    static constexpr bulwark::composition_role role = bulwark::composition_role::attempt_timeout;
};

int main() {
    bulwark::pipeline p{my_attempt_deadline{}, my_repeater{}};
    return p.execute([] { return 0; });
}
