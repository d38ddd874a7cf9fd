// A step whose compensation takes the wrong argument: one line naming what is expected and what
// was given (the compiler prints the lambda's type as `Given`).
// expect: the compensation must be callable as f\(bulwark::saga_context&\) or f\(\), or be
#include <bulwark/saga/saga.hpp>

#include <string>

int main() {
    bulwark::step s{"charge", [] {}, [](const std::string& order) { (void)order; }};
    (void)s;
}
