# bulwark::http — the HTTP transport (Boost.Beast/Asio, headers only) with optional TLS (OpenSSL)
# and the HTTP health probe. (The discovery sources need bulwark::json; NATS KV also bulwark::nats.)
# Beast comes with Boost's headers, which bulwark already requires; TLS is on when OpenSSL is
# found (BULWARK_HTTP_TLS=1), else the target says why it is off and builds without it.
option(BULWARK_HTTP_TLS "Build the HTTP transport with TLS (needs OpenSSL)" ON)

if(NOT TARGET bulwark_http)
  add_library(bulwark_http INTERFACE)
  add_library(bulwark::http ALIAS bulwark_http)
  target_link_libraries(bulwark_http INTERFACE bulwark::bulwark Threads::Threads)

  set(_bulwark_http_tls_why "")
  if(NOT BULWARK_HTTP_TLS)
    set(_bulwark_http_tls_why "BULWARK_HTTP_TLS is OFF")
  else()
    find_package(OpenSSL QUIET)
    if(NOT OpenSSL_FOUND)
      set(_bulwark_http_tls_why "OpenSSL not found (install libssl-dev)")
    endif()
  endif()
  if(_bulwark_http_tls_why)
    message(STATUS "bulwark: HTTP TLS is off: ${_bulwark_http_tls_why}")
    target_compile_definitions(bulwark_http INTERFACE BULWARK_HTTP_TLS=0)
  else()
    target_link_libraries(bulwark_http INTERFACE OpenSSL::SSL OpenSSL::Crypto)
    target_compile_definitions(bulwark_http INTERFACE BULWARK_HTTP_TLS=1)
  endif()

  # Not exported yet: an installed bulwark::http needs find_dependency(OpenSSL) in the package
  # config (the lead's file); users of an install link Boost/OpenSSL themselves meanwhile.
endif()
