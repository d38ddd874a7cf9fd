// A type without execute(next, ctx) in a pipeline.
// expect: this type is not a policy
#include <bulwark/pipeline.hpp>

struct not_a_policy {
    int execute(int) { return 0; }
};

int main() {
    bulwark::pipeline p{not_a_policy{}};
    return p.execute([] { return 0; });
}
