// A saga given something that is not a step.
// expect: every argument after the options must be a bulwark::step
#include <bulwark/saga/saga.hpp>

int main() {
    bulwark::saga s{bulwark::step{"a", [] {}}, 42};
}
