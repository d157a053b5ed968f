"""CoNLL-U reading: forms and tags of each sentence, multiword tokens and empty nodes skipped, and a
one-line error naming file and line for each kind of malformed line."""

from __future__ import annotations

import pytest

from attnkit.data.conllu import read_conllu
from attnkit.errors import DataError

GOOD = """# sent_id = 1
# text = Ἐν ἀρχῇ ἦν ὁ λόγος
1\tἘν\tἐν\tADP\tR-\t_\t2\tcase\t_\t_
2\tἀρχῇ\tἀρχή\tNOUN\tNb\tCase=Dat|Gender=Fem|Number=Sing\t3\tobl\t_\t_
3\tἦν\tεἰμί\tAUX\tV-\tMood=Ind|Number=Sing|Person=3\t0\troot\t_\t_
4\tὁ\tὁ\tDET\tS-\tCase=Nom\t5\tdet\t_\t_
5\tλόγος\tλόγος\tNOUN\tNb\tCase=Nom\t3\tnsubj\t_\t_

# sent_id = 2
1-2\tdel\t_\t_\t_\t_\t_\t_\t_\t_
1\tde\tde\tADP\t_\t_\t2\tcase\t_\t_
2\tel\tel\tDET\t_\tDefinite=Def|PronType=Art\t0\troot\t_\t_
2.1\tx\tx\tX\t_\t_\t_\t_\t0:root\t_
"""


def test_sentences_keep_forms_and_tags(tmp_path):
    path = tmp_path / "good.conllu"
    path.write_text(GOOD, encoding="utf-8")
    first, second = read_conllu(path)
    assert first.words == ("Ἐν", "ἀρχῇ", "ἦν", "ὁ", "λόγος")
    assert first.upos == ("ADP", "NOUN", "AUX", "DET", "NOUN")
    assert first.xpos[:2] == ("R-", "Nb") and first.feats[1] == "Case=Dat|Gender=Fem|Number=Sing"
    assert first.ref == f"{path}:3"
    assert second.words == ("de", "el") and second.upos == ("ADP", "DET")  # the range and the empty node skipped


@pytest.mark.parametrize(
    "line, says",
    [
        ("3\tx\tx\tX", "4 tab-separated fields"),
        ("x\tx\tx\tX\t_\t_\t0\troot\t_\t_", "ID 'x'"),
        ("5\tx\tx\tX\t_\t_\t0\troot\t_\t_", "word 3 of the sentence"),
        ("3\t\tx\tX\t_\t_\t0\troot\t_\t_", "empty FORM"),
        ("3\tx\tx\t\t_\t_\t0\troot\t_\t_", "empty UPOS"),
        ("3\tx\tx\tX\t_\tCase\t0\troot\t_\t_", "FEATS 'Case'"),
    ],
)
def test_a_malformed_line_is_one_line_naming_file_and_line(tmp_path, line, says):
    path = tmp_path / "bad.conllu"
    good = "1\ta\ta\tX\t_\t_\t0\troot\t_\t_\n2\tb\tb\tX\t_\t_\t1\tdep\t_\t_\n"
    path.write_text("# c\n" + good + line + "\n\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_conllu(path)
    message = str(err.value)
    assert "\n" not in message and f"{path}:4:" in message and says in message


def test_missing_empty_and_binary_files(tmp_path):
    with pytest.raises(DataError, match="no such CoNLL-U file"):
        read_conllu(tmp_path / "absent.conllu")
    (tmp_path / "empty.conllu").write_text("# only a comment\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="no sentences"):
        read_conllu(tmp_path / "empty.conllu")
    (tmp_path / "latin1.conllu").write_bytes("1\tλ\n".encode("utf-16"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_conllu(tmp_path / "latin1.conllu")
