# Writes OUT: the files of DIR named in FILES (paths relative to DIR) as one
# table of xl_asset_t (api/assets.h), each served at "/" + its relative path,
# with a strong ETag from its SHA-256. Run by api/CMakeLists.txt at build time.
set(body "/* generated from api/www/ by embed_assets.cmake: do not edit */\n#include \"api/assets.h\"\n\n")
set(table "")
set(n 0)
foreach(f ${FILES})
  file(READ ${DIR}/${f} text HEX)
  file(SHA256 ${DIR}/${f} sum)
  string(LENGTH "${text}" hexlen)
  math(EXPR len "${hexlen} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${text}")
  string(APPEND body "static const unsigned char asset_${n}[] = {${bytes}0x00};\n")
  string(SUBSTRING "${sum}" 0 20 tag)
  string(APPEND table "    {\"/${f}\", asset_${n}, ${len}, \"\\\"${tag}\\\"\"},\n")
  math(EXPR n "${n} + 1")
endforeach()
if(n EQUAL 0)
  set(table "    {0},\n") # C has no empty arrays; the count stays 0
endif()
string(APPEND body "\nconst xl_asset_t xl_assets[] = {\n${table}};\nconst size_t xl_assets_count = ${n};\n")
file(WRITE ${OUT} "${body}")
