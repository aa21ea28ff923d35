// A job whose last rank throws while the others wait in a collective: the job must end with that
// rank's message (distributed::init's terminate handler prints it and calls MPI_Abort), never
// hang. Run by tests/distributed/expect_abort.cmake.
#include "ember.hpp"

using namespace ember;

int main(int argc, char** argv) {
  distributed::init(&argc, &argv);
  const int r = distributed::rank(), n = distributed::world_size();
  if (r == n - 1)
    throw ValueError("bad batch on rank " + std::to_string(r) + " (thrown on purpose by the test)");
  Tensor t = ones({4});
  distributed::all_reduce(t);  // the thrower never joins: without the abort this would hang
  distributed::finalize();
  return 0;
}
