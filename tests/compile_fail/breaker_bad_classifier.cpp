// A breaker whose classifier cannot classify the operation's outcome.
// expect: the classifier must be callable as verdict
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/circuit_breaker.hpp>

struct not_a_classifier {
    bool operator()(int) const { return true; }
};

int main() {
    bulwark::basic_circuit_breaker breaker{bulwark::circuit_breaker_options{}, not_a_classifier{}};
    auto p = bulwark::pipeline{std::move(breaker)};
    return p.execute([] { return 1; });
}
