// A topic type with neither a `subject` member nor a bulwark::subject_of specialization.
// expect: every topic needs a subject
#include <bulwark/channel/topics.hpp>

struct no_subject {};
using bad = bulwark::topics<no_subject>;
int main() {
    return static_cast<int>(bad::size);
}
