// The composition rules are an open trait: a user's own repeater and timeouts take part
// through bulwark::policy_traits (or a `role` member) without borrowing a policy_kind.
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/retry.hpp>
#include <bulwark/policy/timeout.hpp>

#include <catch2/catch.hpp>

#include <array>

namespace {

/// Runs the rest of the pipeline up to three times while it fails.
struct user_repeater {
    int runs = 0;
    template <class Next>
    bulwark::next_result_t<Next> execute(Next&& next, bulwark::context& ctx) {
        auto o = next(ctx);
        for (int i = 1; i < 3 && !o.has_value(); ++i, ++runs)
            o = next(ctx);
        return o;
    }
};
struct user_attempt_deadline : bulwark::pass_through {};
/// A total timeout declared by a member instead of a trait specialisation.
struct user_total_deadline : bulwark::pass_through {
    static constexpr auto role = bulwark::composition_role::total_timeout;
};

} // namespace

template <>
struct bulwark::policy_traits<user_repeater> {
    static constexpr composition_role role = composition_role::repeater;
};
template <>
struct bulwark::policy_traits<user_attempt_deadline> {
    static constexpr composition_role role = composition_role::attempt_timeout;
};

TEST_CASE("user policies take part in the composition rules through policy_traits",
          "[core][policy][composition]") {
    using bulwark::policy_role_v;
    using bulwark::detail::check_roles;
    using bulwark::detail::composition_error;
    using A = std::array<bulwark::composition_role, 2>;
    STATIC_REQUIRE(policy_role_v<user_repeater> == bulwark::composition_role::repeater);
    STATIC_REQUIRE(policy_role_v<std::reference_wrapper<user_repeater>> ==
                   bulwark::composition_role::repeater);
    STATIC_REQUIRE(policy_role_v<bulwark::retry> == bulwark::composition_role::repeater);
    STATIC_REQUIRE(policy_role_v<user_total_deadline> == bulwark::composition_role::total_timeout);
    // right order: attempt timeout inside the repeater, total outside
    STATIC_REQUIRE(check_roles(A{policy_role_v<user_repeater>,
                                 policy_role_v<user_attempt_deadline>}) == composition_error::none);
    STATIC_REQUIRE(check_roles(A{policy_role_v<user_total_deadline>,
                                 policy_role_v<user_repeater>}) == composition_error::none);
    // wrong orders are caught as for the built-in retry and timeouts
    STATIC_REQUIRE(
        check_roles(A{policy_role_v<user_attempt_deadline>, policy_role_v<user_repeater>}) ==
        composition_error::attempt_timeout_outside);
    STATIC_REQUIRE(
        check_roles(A{policy_role_v<user_repeater>, policy_role_v<user_total_deadline>}) ==
        composition_error::total_timeout_inside);
    STATIC_REQUIRE(
        check_roles(A{policy_role_v<user_total_deadline>, policy_role_v<bulwark::total_timeout>}) ==
        composition_error::two_total_timeouts);
    // mixed with built-ins: a bulwark per-attempt timeout inside a user repeater is fine
    bulwark::pipeline p{user_repeater{}, user_attempt_deadline{}};
    int calls = 0;
    auto o = p.try_execute([&]() -> bulwark::outcome<int> {
        return ++calls < 3 ? bulwark::outcome<int>{bulwark::errc::timeout} : 7;
    });
    CHECK(o.has_value());
    CHECK(calls == 3);
}
