// A retry_if predicate that cannot judge the operation's outcome is rejected with a message that
// says what it must look like.
// expect: bulwark::retry: the classifier must be callable with const outcome<R>&
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/retry.hpp>

#include <string>

int main() {
    auto r = bulwark::retry{}.retry_if([](const bulwark::outcome<std::string>&) { return true; });
    bulwark::pipeline p{r};
    return p.execute([] { return 1; });
}
