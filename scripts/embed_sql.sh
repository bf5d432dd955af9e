#!/bin/sh
# Turns an SQL file on standard input into a C header with one string constant named $1, so that
# sql/schema.sql stays the single source of the schema the extension creates (and
# sql/history/ of the older ones it upgrades).
name=$1
echo "/* Generated from an SQL file under sql/ by scripts/embed_sql.sh; do not edit. */"
echo "static const char $name[] ="
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/  "/' -e 's/$/\\n"/'
echo ";"
