// A health probe with the wrong signature.
// expect: the probe must be callable as probe\(const bulwark::endpoint&, bulwark::context&\) ->
// bool
#include <bulwark/balance/health.hpp>

int main() {
    bulwark::registry reg;
    bulwark::health_checker checker(reg, [](int) { return true; });
    (void)checker;
}
