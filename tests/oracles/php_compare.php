<?php
// Reads 'A<TAB>B' lines and prints version_compare(A, B) after dropping one
// leading v/V before a digit (Composer's normalisation).
function strip_v($v) {
    $v = trim($v);
    return preg_match('/^[vV][0-9]/', $v) ? substr($v, 1) : $v;
}
while (($line = fgets(STDIN)) !== false) {
    [$a, $b] = explode("\t", rtrim($line, "\n"), 2);
    echo version_compare(strip_v($a), strip_v($b)), "\n";
}
