// A type without pick(set, ctx, now) used as a balancing strategy.
// expect: balancing_strategy
#include <bulwark/balance/balance.hpp>

struct not_a_strategy {
    int pick() { return 0; }
};

int main() {
    bulwark::registry reg;
    bulwark::balance<not_a_strategy> lb{reg};
    (void)lb;
}
