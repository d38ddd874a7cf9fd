// A step whose action is not callable as f(saga_context&) or f(): one line naming what is
// expected and what was given (the compiler prints `Given = int` with it).
// expect: the action must be callable as f\(bulwark::saga_context&\) or f\(\) \(got Given\)
#include <bulwark/saga/saga.hpp>

int main() {
    bulwark::step s{"charge", 42};
    (void)s;
}
