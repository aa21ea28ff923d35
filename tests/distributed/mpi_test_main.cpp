// The MPI tests' main: every rank runs the same Catch2 session between distributed::init and
// finalize (ctest starts it under `mpirun -np 2` and `-np 3`). Tests must call collectives in the
// same order on every rank, so they use CHECK (REQUIRE would skip a rank's later collectives).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "distributed/collectives.hpp"

int main(int argc, char** argv) {
  ember::distributed::init(&argc, &argv);
  int failed = Catch::Session().run(argc, argv);
  ember::distributed::barrier();
  ember::distributed::finalize();
  return failed == 0 ? 0 : 1;
}
