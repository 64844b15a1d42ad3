//go:build ignore

// gen_common writes common.txt, the list of common passwords that
// password.IsCommon checks against. Run it with `go generate ./password`.
//
// Published breach corpora (RockYou, HIBP's Pwned Passwords, SecLists)
// cannot be downloaded where authd is built, so the list is made here from
// what those rankings show again and again, typed from memory, and from
// the systematic ways people build passwords:
//
//  1. top: passwords that top every yearly "most common passwords" list.
//  2. words: base words people build passwords from: first names, pets,
//     animals, sports and clubs, colours, months and days, places, brands,
//     games, films and music, love and feelings, everyday nouns.
//  3. each word and top password with the suffixes people add most, each
//     word with every year 1975-2030, and the most common words also with
//     a leading "!", "@", "#", "my", "the" and a year with a symbol
//     (password2024!, welcome@2023).
//  4. two-word phrases of short common words (iloveyou, letmein, ...).
//  5. keyboard walks on QWERTY and AZERTY (rows, columns, zig-zags),
//     digit runs, and repetitions.
//
// Entries are lowercase (the check is case-insensitive) and at least 8
// characters: password.Config never allows a shorter min_length, so a
// shorter entry could never reject anything. IsCommon also undoes common
// substitutions (p@ssw0rd) and catches short repeated patterns, so those
// are not spelled out here.
package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

const minLen = 8

// top is typed from memory of published rankings (SplashData, NordPass,
// NCSC's top 100k, SecLists' 10k-most-common): the passwords that head all
// of them, in no particular order.
var top = strings.Fields(`
123456 password 12345678 qwerty 123456789 12345 1234 111111 1234567 dragon
123123 baseball abc123 football monkey letmein shadow master 666666 qwertyuiop
123321 mustang 1234567890 michael 654321 superman 1qaz2wsx 7777777 121212 000000
qazwsx 123qwe killer trustno1 jordan jennifer zxcvbnm asdfgh hunter buster
soccer harley batman andrew tigger sunshine iloveyou 2000 charlie robert thomas
hockey ranger daniel starwars klaster 112233 george computer michelle jessica
pepper 1111 zxcvbn 555555 11111111 131313 freedom 777777 pass maggie 159753
aaaaaa ginger princess joshua cheese amanda summer love ashley 6969 nicole
chelsea biteme matthew access yankees 987654321 dallas austin thunder taylor
matrix william corvette hello martin heather secret merlin diamond 1234qwer
gfhjkm hammer silver 222222 88888888 anthony justin test bailey q1w2e3r4t5
patrick internet scooter orange 11111 golfer cookie richard samantha bigdog
guitar jackson whatever mickey chicken sparky snoopy maverick phoenix camaro
peanut morgan welcome falcon cowboy ferrari samsung andrea smokey steelers
joseph mercedes dakota arsenal eagles melissa boomer booboo spider nascar
monster tigers yellow xxxxxx 123123123 gateway marina diablo bulldog qwer1234
compaq purple hardcore banana junior hannah 123654 porsche lakers iceman money
cowboys 987654 london tennis 999999 ncc1701 coffee scooby 0000 miller boston
q1w2e3r4 brandon yamaha chester mother forever johnny edward 333333 oliver
redsox player nikita knight fender barney midnight please brandy chicago badboy
slayer rangers charles angel flower rabbit wizard jasper enter rachel chris
steven winner adidas victoria natasha 1q2w3e4r jasmine winter prince marine
ghbdtn fishing cocacola casper james 232323 raiders 888888 marlboro gandalf
asdfasdf crystal 87654321 12344321 golden 8675309 rosebud qwert password1
password123 password12 password1234 passw0rd p@ssw0rd p@ssword pa$$word
1q2w3e 123abc qwerty123 qwerty1 qwerty12 qwerty1234 1qaz2wsx3edc zaq12wsx
zaq1zaq1 zaq1xsw2 admin admin123 admin1234 administrator root toor changeme
changeit letmein123 letmein1 welcome1 welcome123 welcome2 iloveyou1 iloveyou2
iloveyou123 abc12345 abcd1234 abcdef abcdefg abcdefgh azerty azertyuiop
000000000 00000000 11223344 147258369 147258 123456a a123456 123456789a
aa123456 1qazxsw2 qwe123 asd123 zxc123 123qweasd qweasdzxc 1q2w3e4r5t
1q2w3e4r5t6y 1q2w3e4r5t6y7u8i9o0p qwe123qwe asdasd asdasd123 qweqwe qweqweqwe
123qwe123 1234abcd 12qwaszx 123456789q 1234567q qwerty123456 qwertyui
qwerty7 qwerty11 qwertz qwertzui qwertzuiop ytrewq 111222 121314 123465
1234561 12341234 123456q 123456qwe 123456789z 1234567890q 12345q 12345a
123456789abc 654321a 7654321 55555 5555555 99999999 999999999 123456654321
159357 159951 147852 147852369 741852963 789456 789456123 456789 456123
963852741 258456 852456 1a2b3c 1a2b3c4d a1b2c3 a1b2c3d4 a1a1a1 a12345
a1234567 a123456789 aaaaaa1 aaaaaaaa abc123456 abcabc abcd123 abc1234
letmein! welcome! password! password1! password123! passw0rd! qwerty!
iloveu iloveyou! loveyou lovely lovelove loveme love123 lover loveu
sunshine1 princess1 football1 baseball1 monkey1 dragon1 shadow1 master1
superman1 batman1 michael1 jordan23 jordan1 michael23 charlie1 jessica1
ashley1 nicole1 daniel1 andrew1 thomas1 hunter1 hunter2 tigger1 buster1
soccer1 hockey1 killer1 pepper1 maggie1 ginger1 summer1 cookie1 chelsea1
matthew1 yankees1 dallas1 thunder1 taylor1 matrix1 william1 hello1 hello123
secret1 secret123 diamond1 silver1 orange1 purple1 banana1 junior1 hannah1
money1 money123 london1 tennis1 coffee1 scooby1 boston1 mother1 forever1
angel1 angel123 flower1 rabbit1 wizard1 winner1 winter1 prince1 marine1
welcome12 letmein12 trustno1! iloveyou12 computer1 internet1 freedom1
starwars1 pokemon pokemon1 pokemon123 naruto naruto123 minecraft minecraft1
minecraft123 fortnite roblox roblox123 onedirection justinbieber
blink182 metallica nirvana slipknot eminem 50cent tupac2pac
whatever1 nothing something anything everything iloveme imissyou
fuckyou fuckyou1 fuckoff fuckme shithead asshole bitch bitch1 bullshit
pussy pussy1 cunt dick penis sex sexy sexy1 sexsex horny
zxcvbnm1 zxcvbnm123 asdfghjk asdfghjkl asdfghjkl1 qazwsxedc qazwsxedcrfv
1qaz1qaz 2wsx3edc !qaz2wsx !qaz@wsx !qaz@wsx#edc 1qaz!qaz qwer!234 qwerty!@#
!@#$%^ !@#$%^&* !@#$%^&*() 1234!@#$ 123!@# 123456!@#$%^ qwe!@# asd!@#
google google1 google123 facebook facebook1 linkedin linkedin1 twitter
yahoo yahoo123 hotmail hotmail1 gmail gmail123 microsoft windows windows1
apple apple123 iphone iphone1 android android1 samsung1 nokia nokia123
office office1 office123 company company1 business work work123 default
guest guest123 user user123 test123 test1234 testing testing123 temp temp123
temppass temp1234 demo demo123 sample login login123 logon passpass
master123 superuser support support1 service service1 sysadmin system
system1 server server1 oracle oracle1 mysql postgres database backup
secure secure1 security security1 private private1 public public1
access14 access1 letmein2 open sesame opensesame masterkey keyboard
`)

// words are the bases people build passwords from.
var words = strings.Fields(`
password passwort passe contrasena senha parola wachtwoord haslo salasana
admin administrator root user guest welcome hello letmein secret master
qwerty monkey dragon shadow sunshine princess football baseball soccer
hockey basketball tennis golf golfer cricket rugby volleyball boxing
superman batman spiderman ironman hulk thor wolverine joker pokemon pikachu
naruto goku vegeta sasuke mario luigi zelda sonic yoshi kirby minecraft
fortnite roblox halo starwars startrek matrix gandalf frodo hobbit harrypotter
hogwarts hermione voldemort yoda vader skywalker chewbacca jedi sith
michael jennifer jordan jessica ashley amanda daniel david james robert john
joseph thomas charles christopher matthew anthony mark donald steven paul
andrew joshua kevin brian george edward ronald timothy jason jeffrey ryan
jacob gary nicholas eric stephen jonathan larry justin scott brandon frank
benjamin gregory samuel raymond patrick alexander jack dennis jerry tyler
aaron jose henry adam douglas nathan peter zachary kyle walter harold jeremy
ethan carl keith roger gerald christian terry sean arthur austin noah lawrence
jesse joe bryan billy jordan albert dylan bruce willie gabriel alan juan logan
wayne ralph roy eugene randy vincent russell louis philip bobby johnny bradley
mary patricia linda barbara elizabeth susan margaret dorothy lisa nancy karen
betty helen sandra donna carol ruth sharon michelle laura sarah kimberly
deborah shirley cynthia angela melissa brenda amy anna rebecca virginia
kathleen pamela martha debra amanda stephanie carolyn christine marie janet
catherine frances ann joyce diane alice julie heather teresa doris gloria
evelyn jean cheryl mildred katherine joan judith rose janice kelly nicole
judy christina kathy theresa beverly denise tammy irene jane lori rachel
marilyn andrea kathryn louise sara anne jacqueline wanda bonnie julia ruby
lois tina phyllis norma paula diana annie lillian emily robin peggy crystal
gladys rita dawn connie florence tracy edna tiffany carmen rosa cindy grace
wendy victoria edith kim sherry sylvia josephine thelma shannon sheila ethel
ellen elaine marjorie carrie charlotte monica esther pauline emma juanita
anita rhonda hazel amber eva debbie april leslie clara lucille jamie joanne
eleanor valerie danielle megan alicia suzanne michele gail bertha darlene
veronica jill erin geraldine lauren cathy joann lorraine lynn sally regina
erica beatrice dolores bernice audrey yvonne annette june samantha marion
dana stacy ana renee ida vivian roberta holly brittany melanie loretta
yolanda jeanette laurie katie kristen vanessa alma sue elsie beth jeanne
olivia sophia isabella mia ava abigail madison chloe ella lily hannah
natalie addison aubrey zoey brooklyn leah savannah audrey claire skylar
lucy paisley everly anna caroline nova genesis aaliyah kennedy kinsley
allison maya sarah madelyn adeline alexa ariana elena gabriella naomi alice
sadie hailey eva emilia autumn quinn nevaeh piper ruby serenity willow
liam mason elijah oliver jacob lucas aiden jackson sebastian mateo owen
theodore wyatt carter jayden luke grayson isaac lincoln levi julian hudson
mateo maverick asher leo ezra colton landon nolan cameron easton dominic
jaxon hunter connor jeremiah santiago kai cooper brayden roman evan micah
max charlie buddy bella lucy daisy luna bailey molly sadie maggie sophie
chloe rocky duke cooper tucker bear jake oscar toby teddy milo winston
riley zeus bentley lola coco ruby penny rosie stella gracie zoe harley
buster tigger smokey shadow ginger pepper misty oreo simba nala oreo
kitty kitten puppy doggy doggie princess angel baby babygirl babyboy
dog cat horse pony tiger lion bear wolf eagle falcon hawk shark dolphin
whale panda koala monkey donkey turtle rabbit bunny snake dragon phoenix
unicorn butterfly spider scorpion cobra viper python panther jaguar leopard
cheetah cougar bulldog rottweiler husky poodle beagle labrador boxer
penguin parrot chicken turkey duck goose swan owl raven crow fox badger
yankees redsox dodgers giants cubs mets braves cardinals astros rangers
lakers celtics bulls knicks warriors heat spurs rockets mavericks
cowboys steelers patriots packers eagles raiders broncos bears dolphins
chiefs seahawks vikings saints ravens chargers jets colts texans
arsenal chelsea liverpool manchester manutd united barcelona realmadrid
juventus milan inter bayern dortmund ajax celtic rangers tottenham everton
newcastle leeds westham madrid barca messi ronaldo neymar zidane beckham
maradona pele rooney gerrard lampard henry kobe lebron jordan23 tiger
nascar ferrari porsche mustang corvette camaro harley ducati yamaha honda
suzuki kawasaki toyota nissan mazda subaru mercedes bmw audi volkswagen
chevy chevrolet ford dodge jeep tesla lamborghini bugatti jaguar bentley
red blue green yellow orange purple pink black white silver golden brown
violet indigo scarlet crimson maroon turquoise
january february march april may june july august september october november
december monday tuesday wednesday thursday friday saturday sunday
spring summer autumn winter weekend holiday christmas easter halloween
london paris berlin madrid rome moscow tokyo chicago boston dallas houston
newyork california texas florida denver seattle miami vegas lasvegas
atlanta detroit phoenix austin toronto vancouver sydney melbourne dublin
amsterdam mexico brazil canada america usa england france germany italy
spain russia china japan india australia ireland scotland poland
love lover lovely loveyou iloveyou loveme lovelove mylove truelove
forever always together family friends friend bestfriend sweetheart
sweetie honey honeybee sugar candy cupcake cookie cookies chocolate
vanilla strawberry cherry banana apple orange lemon peach mango coconut
pizza burger pasta cheese coffee tea beer whiskey vodka tequila
happy smile sunny rainbow heaven angel angels devil demon hell god jesus
christ lord faith hope grace blessed blessing trinity church bible amen
peace freedom liberty justice victory winner champion legend hero warrior
soldier ninja samurai knight king queen prince princess lady lord
master killer hunter sniper ranger sniper gamer player
music guitar piano drums rock metal punk jazz blues hiphop rap
dance dancer singer star stars superstar rockstar popstar
money cash dollar dollars rich million billion gold diamond diamonds
silver platinum crystal pearl ruby emerald sapphire
computer internet google facebook twitter youtube instagram tiktok
netflix amazon apple microsoft windows linux ubuntu android iphone
samsung nokia sony playstation xbox nintendo gameboy
secret private hidden mystery magic wizard witch fairy
summer winter spring autumn sunshine moonlight starlight midnight
thunder lightning storm rain snow snowflake ocean sea river lake
mountain forest flower flowers rose roses lily daisy tulip orchid
garden nature earth planet galaxy universe cosmos
school student teacher college university library office work
welcome hello goodbye nothing something whatever anything everything
beautiful pretty cute sweet hottie sexy lovely gorgeous
baby babe babygirl darling dear
mother father mommy daddy mama papa sister brother family
george charlie tango alpha bravo delta echo foxtrot
matrix neo morpheus trinity terminator rambo rocky predator
titanic avatar shrek nemo simpsons homer bart futurama southpark
metallica nirvana beatles queen eminem rihanna beyonce madonna
elvis marley bobmarley tupac biggie drake kanye
whiskey jackdaniels marlboro camel
batman123 superman123
trustno1 letmein123
freedom1 liberty1
america1 england1
`)

// topWords get the richer decorations (leading !, @, #; year and "!").
var topWords = strings.Fields(`
password passw0rd p@ssw0rd welcome admin qwerty letmein iloveyou monkey dragon
sunshine princess football baseball master shadow summer winter spring autumn
michael jennifer jordan jessica charlie love secret hello freedom computer
company changeme default access login user guest test
`)

// suffixes people append most often.
var suffixes = strings.Fields(`
1 2 3 7 0 00 01 10 11 12 13 21 22 23 69 77 88 99 007 111 123 321 420 666
777 999 1234 12345 123456 1234567 12345678 123456789 1111 0000
! !! 1! 12! 123! 1234! @ @123 # !@# 1@ . 123. _123
`)

// shortWords make two-word phrases.
var shortWords = strings.Fields(`
i me my you we love hate miss want need the is am be let go get in out my
big bad hot cool sexy baby girl boy god dog cat sun moon star king queen life
`)

func main() {
	set := map[string]bool{}
	add := func(s string) {
		s = strings.ToLower(s)
		if len(s) >= minLen && isPrintableASCII(s) {
			set[s] = true
		}
	}
	for _, w := range top {
		add(w)
	}
	for _, w := range append(slices.Clone(words), top...) {
		for _, s := range suffixes {
			add(w + s)
		}
	}
	for _, w := range words {
		for y := 1975; y <= 2030; y++ {
			add(w + strconv.Itoa(y))
		}
	}
	for _, w := range topWords {
		for _, p := range []string{"!", "@", "#", "1", "123", "my", "the"} {
			add(p + w)
			for _, s := range suffixes {
				add(p + w + s)
			}
		}
		for y := 1970; y <= 2030; y++ {
			for _, s := range []string{"!", "@", "#", "$", "!!", ".", "*", "?"} {
				add(w + strconv.Itoa(y) + s)
				add(w + s + strconv.Itoa(y))
			}
			add(w + "@" + strconv.Itoa(y) + "!")
		}
	}
	for _, a := range shortWords {
		for _, b := range shortWords {
			for _, c := range []string{"", "1", "12", "123", "!"} {
				add(a + b + c)
			}
		}
	}
	for _, w := range walks() {
		add(w)
	}
	for _, w := range digitPatterns() {
		add(w)
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	slices.Sort(out)
	if err := os.WriteFile("common.txt", []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("common.txt: %d passwords\n", len(out))
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// walks returns keyboard walks: every run of 6 characters or more along a
// row, forwards and backwards, on QWERTY and AZERTY (plain and with the
// shifted digit row), column zig-zags (1qaz2wsx...), and alternating rows
// (q1w2e3..., 1q2w3e...).
func walks() []string {
	rows := [][]string{
		{"1234567890-=", "qwertyuiop[]", "asdfghjkl;'", "zxcvbnm,./"},
		{"&é\"'(-è_çà)=", "azertyuiop^$", "qsdfghjklmù", "wxcvbn,;:!"},
		{"1234567890", "azertyuiop", "qsdfghjklm", "wxcvbn"},
		{"1234567890", "qwertzuiop", "asdfghjkl", "yxcvbnm"},
		{"!@#$%^&*()_+", "qwertyuiop", "asdfghjkl", "zxcvbnm"},
	}
	var out []string
	runs := func(s string) {
		rs := []rune(s)
		for i := 0; i < len(rs); i++ {
			for j := i + 6; j <= len(rs); j++ {
				w := string(rs[i:j])
				out = append(out, w, reverse(w), w+w, w+"1", w+"123", w+"!")
			}
		}
	}
	for _, layout := range rows {
		for _, r := range layout {
			runs(r)
		}
		// Two rows interleaved: q1w2e3r4, 1q2w3e4r, qawsedrf, aqswdefr.
		for a := 0; a+1 < len(layout); a++ {
			ra, rb := []rune(layout[a]), []rune(layout[a+1])
			var ab, ba []rune
			for i := 0; i < min(len(ra), len(rb)); i++ {
				ab = append(ab, ra[i], rb[i])
				ba = append(ba, rb[i], ra[i])
			}
			runs(string(ab))
			runs(string(ba))
		}
		// Columns: 1qaz2wsx3edc..., and their reverses zaq1xsw2...
		if len(layout) == 4 {
			var cols []string
			for i := 0; i < 10; i++ {
				var c []rune
				for _, r := range layout {
					if rr := []rune(r); i < len(rr) {
						c = append(c, rr[i])
					}
				}
				cols = append(cols, string(c))
			}
			for i := range cols {
				down, up := "", ""
				for j := i; j < len(cols); j++ {
					down += cols[j]
					up += reverse(cols[j])
					if len(down) >= 6 {
						out = append(out, down, up, down+"!", up+"!")
					}
				}
			}
			// Column pairs repeated: 1qaz1qaz, zaq1zaq1, 1qaz!qaz.
			for _, c := range cols {
				out = append(out, c+c, reverse(c)+reverse(c), strings.Repeat(c, 3))
			}
		}
	}
	return out
}

// digitPatterns returns ascending and descending digit runs, doubled
// digits, mirrored and repeated groups.
func digitPatterns() []string {
	var out []string
	asc := "01234567890123456789"
	for i := 0; i < 10; i++ {
		for n := 6; n <= 16 && i+n <= len(asc); n++ {
			w := asc[i : i+n]
			out = append(out, w, reverse(w))
		}
	}
	for n := 3; n <= 8; n++ {
		for i := 0; i+n <= 10; i++ {
			w := asc[i : i+n]
			out = append(out, w+w, w+reverse(w), reverse(w)+w, w+w+w)
			var d strings.Builder
			for _, c := range w {
				d.WriteRune(c)
				d.WriteRune(c)
			}
			out = append(out, d.String())
		}
	}
	for y := 1940; y <= 2030; y++ {
		ys := strconv.Itoa(y)
		out = append(out, ys+ys, "0000"+ys, ys+"0000", "1234"+ys, ys+"1234")
	}
	return out
}

func reverse(s string) string {
	rs := []rune(s)
	slices.Reverse(rs)
	return string(rs)
}
