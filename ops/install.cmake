# `make install` (cmake --install): execlogd, its systemd units (one for role all, a template for one
# role per instance), the sysusers.d entry that creates the execlog user, the tmpfiles.d entry that
# keeps /etc/execlog readable by it alone, the configuration examples, the dashboard and the alert
# rules. PREFIX (CMAKE_INSTALL_PREFIX) and DESTDIR are honoured; the units and the sysusers.d and
# tmpfiles.d entries go under PREFIX/lib, which systemd reads for /usr and /usr/local alike; the
# settings under XL_CONFDIR (/etc/execlog whatever the prefix: the units read them there).
# The units name the binary by its full path: configure with the prefix (make install does).
include(GNUInstallDirs)
if(NOT XL_CONFDIR)
  set(XL_CONFDIR /etc/execlog)
endif()
set(XL_BINDIR ${CMAKE_INSTALL_FULL_BINDIR})
set(XL_DOCDIR ${CMAKE_INSTALL_FULL_DATAROOTDIR}/doc/execlog)
# relative: under the prefix
set(XL_UNITDIR lib/systemd/system)
set(XL_SYSUSERSDIR lib/sysusers.d)
set(XL_TMPFILESDIR lib/tmpfiles.d)

foreach(unit execlogd.service execlogd@.service)
  configure_file(${CMAKE_SOURCE_DIR}/ops/systemd/${unit}.in ${CMAKE_BINARY_DIR}/ops/systemd/${unit} @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/ops/systemd/${unit} DESTINATION ${XL_UNITDIR})
endforeach()
install(FILES ${CMAKE_SOURCE_DIR}/ops/systemd/execlog.sysusers DESTINATION ${XL_SYSUSERSDIR} RENAME execlog.conf)
install(FILES ${CMAKE_SOURCE_DIR}/ops/systemd/execlog.tmpfiles DESTINATION ${XL_TMPFILESDIR} RENAME execlog.conf)

# the examples, always; /etc/execlog/execlogd.properties only when there is none (an install never
# overwrites settings)
install(FILES ${CMAKE_SOURCE_DIR}/ops/execlogd.properties ${CMAKE_SOURCE_DIR}/ops/tokens.example
              ${CMAKE_SOURCE_DIR}/README.md
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/execlog)
install(FILES ${CMAKE_SOURCE_DIR}/ops/grafana/execlog.json DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/execlog/grafana)
install(FILES ${CMAKE_SOURCE_DIR}/ops/prometheus/execlog-alerts.yml ${CMAKE_SOURCE_DIR}/ops/prometheus/execlog-alerts.test.yml
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/execlog/prometheus)
install(CODE "
  set(conf \"\$ENV{DESTDIR}${XL_CONFDIR}/execlogd.properties\")
  if(NOT EXISTS \"\${conf}\")
    # file(INSTALL) puts DESTDIR before an absolute destination itself
    file(INSTALL \"${CMAKE_SOURCE_DIR}/ops/execlogd.properties\" DESTINATION \"${XL_CONFDIR}\"
         FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
  else()
    message(STATUS \"Kept: \${conf}\")
  endif()")
