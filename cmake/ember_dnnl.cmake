# oneDNN (Debian's libdnnl-dev) as the imported target ember::dnnl: its header, libdnnl and the
# OpenMP runtime it runs on (libgomp, linked for omp_set_num_threads; no -fopenmp). Found by
# path, not through dnnl-config.cmake, which also asks for OpenCL. Used by CMakeLists.txt and,
# installed, by emberConfig.cmake, so a consumer of a static ember links libdnnl too.
if(NOT TARGET ember::dnnl)
  find_path(EMBER_DNNL_INCLUDE dnnl.hpp)
  find_library(EMBER_DNNL_LIBRARY dnnl)
  find_package(OpenMP COMPONENTS CXX QUIET)
  if(EMBER_DNNL_INCLUDE AND EMBER_DNNL_LIBRARY AND OpenMP_CXX_FOUND)
    add_library(ember::dnnl INTERFACE IMPORTED)
    set_target_properties(ember::dnnl PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${EMBER_DNNL_INCLUDE}"
      INTERFACE_LINK_LIBRARIES "${EMBER_DNNL_LIBRARY};${OpenMP_CXX_LIBRARIES}")
  endif()
endif()
