# Reads 'A<TAB>B' lines and prints Gem::Version A <=> B, or E when RubyGems
# refuses either version.
require "rubygems"
STDIN.each_line do |line|
  a, b = line.chomp.split("\t", -1)
  if Gem::Version.correct?(a) && Gem::Version.correct?(b)
    puts(Gem::Version.new(a) <=> Gem::Version.new(b))
  else
    puts "E"
  end
end
