// A backoff type without next_delay(n, previous, rng) is rejected with a message that says what
// it needs.
// expect: basic_retry: the Backoff type needs
#include <bulwark/policy/retry.hpp>

struct not_a_backoff {
    int delay_ms = 10;
};

int main() {
    bulwark::basic_retry<bulwark::default_classifier, bulwark::no_retry_listener, not_a_backoff>
        r{};
    (void)r;
}
