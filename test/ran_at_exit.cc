// Writes the ran marker (test/ran_marker.h) when the program exits normally: on return from
// main() or a call to exit(), not on a crash, abort() or _exit(). For whole programs that are
// tests but must not mention the harness in their text (the README's quick-start snippets). The
// exit status is not known here, so the marker says "exit"; the runner checks the status itself.
#include "test/ran_marker.h"

namespace {

struct RanAtExit {
  ~RanAtExit() { netpoll::testing::write_ran_marker("exit\n"); }
};

// A static object's destructor runs at exit(), after main() has returned.
RanAtExit ran_at_exit;

}  // namespace
