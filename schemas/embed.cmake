# Writes OUT: one `const char xl_schema_<name>_json[]` per .avsc in FILES.
set(body "/* generated from the .avsc files in schemas/ by embed.cmake: do not edit */\n")
foreach(f ${FILES})
  file(READ ${DIR}/${f} text HEX)
  get_filename_component(name ${f} NAME_WE)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${text}")
  string(APPEND body "const char xl_schema_${name}_json[] = {${bytes}0x00};\n")
endforeach()
file(WRITE ${OUT} "${body}")
