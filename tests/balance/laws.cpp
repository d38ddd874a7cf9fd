// The balance policy obeys the policy laws (tests/support/laws.hpp) for every strategy.
#include "support/laws.hpp"

#include <bulwark/balance/balance.hpp>
#include <bulwark/balance/least_outstanding.hpp>
#include <bulwark/balance/maglev.hpp>
#include <bulwark/balance/p2c.hpp>
#include <bulwark/balance/random.hpp>
#include <bulwark/balance/ring_hash.hpp>
#include <bulwark/balance/round_robin.hpp>
#include <bulwark/balance/weighted_round_robin.hpp>

#include "helpers.hpp"

TEMPLATE_TEST_CASE("balance<Strategy> obeys the policy laws", "[balance][laws]",
                   bulwark::round_robin, bulwark::weighted_round_robin, bulwark::random,
                   bulwark::least_outstanding, bulwark::p2c_peak_ewma, bulwark::ring_hash,
                   bulwark::maglev) {
    bulwark::registry reg(balance_test::endpoints(4, {1, 2, 3, 4}));
    bulwark::test::check_policy_laws([&] { return bulwark::balance<TestType>{reg}; });
}
