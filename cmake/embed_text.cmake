# callgate_embed_text(<target> <file> <header> <function>)
#
# Compiles the text of <file> into <target> as the body of
#   const std::string& <function>()
# which <header> declares (e.g. callgate::config_api::api_router::openapi_document).
# Editing <file> re-runs CMake, so the binary always serves the file as committed.
function(callgate_embed_text target file header function)
  get_filename_component(path ${file} ABSOLUTE)
  get_filename_component(name ${file} NAME_WE)
  file(READ ${path} EMBED_TEXT)
  file(RELATIVE_PATH EMBED_SOURCE ${PROJECT_SOURCE_DIR} ${path})
  set(EMBED_HEADER ${header})
  set(EMBED_FUNCTION ${function})
  set(generated ${CMAKE_CURRENT_BINARY_DIR}/${name}_embedded.cpp)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/embed_text.cpp.in ${generated} @ONLY)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${path})
  target_sources(${target} PRIVATE ${generated})
endfunction()
