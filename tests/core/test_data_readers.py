"""Data readers and label maps: good files load, bad ones name the file, the line and what was expected."""

from __future__ import annotations

import json

import pytest

from plm_recipes.data import LabelMap, read_records, read_text_lines, records_to_dataset
from plm_recipes.errors import DataFormatError

FIELDS = ("label", "text")


def write(path, content, mode="w"):
    if mode == "wb":
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_tsv_records_keep_their_line_numbers(tmp_path):
    path = write(tmp_path / "train.txt", "1\t苹果很甜\n\n0\t电脑很快\r\n")
    records = read_records(path, FIELDS)
    assert [(r.line, r["label"], r["text"]) for r in records] == [(1, "1", "苹果很甜"), (3, "0", "电脑很快")]


def test_bom_is_ignored(tmp_path):
    path = write(tmp_path / "train.txt", "\ufeff水果\t苹果很甜\n")
    assert read_records(path, FIELDS)[0]["label"] == "水果"


def test_empty_file(tmp_path):
    path = write(tmp_path / "train.txt", "\n  \n")
    with pytest.raises(DataFormatError, match=r"train\.txt: the file is empty; expected records with 2 tab-separated "
                                              r"fields \(label<TAB>text\)"):
        read_records(path, FIELDS)


def test_line_without_tab(tmp_path):
    path = write(tmp_path / "train.txt", "1\t苹果很甜\n电脑很快\n")
    with pytest.raises(DataFormatError) as e:
        read_records(path, FIELDS)
    assert e.value.line == 2
    assert str(e.value) == (f"{path}, line 2: expected 2 tab-separated fields (label<TAB>text), found 1 "
                            "(no tab in the line)")


def test_too_many_fields(tmp_path):
    path = write(tmp_path / "train.tsv", "1\t苹果\t很甜\n")
    with pytest.raises(DataFormatError, match=r"line 1: expected 2 tab-separated fields \(label<TAB>text\), found 3"):
        read_records(path, FIELDS)


def test_empty_field(tmp_path):
    path = write(tmp_path / "train.txt", "1\t苹果很甜\n2\t \n")
    with pytest.raises(DataFormatError, match=r"line 2: empty field 'text'"):
        read_records(path, FIELDS)


def test_non_utf8_bytes_name_the_line(tmp_path):
    path = write(tmp_path / "train.txt", "1\t苹果很甜\n".encode() + "0\t电脑很快\n".encode("gbk"), mode="wb")
    with pytest.raises(DataFormatError) as e:
        read_records(path, FIELDS)
    assert e.value.line == 2
    assert "not valid UTF-8" in str(e.value) and "save the file as UTF-8" in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataFormatError, match="file not found"):
        read_records(tmp_path / "nope.txt", FIELDS)


def test_unsupported_suffix(tmp_path):
    path = write(tmp_path / "train.xlsx", "x")
    with pytest.raises(DataFormatError, match=r"unsupported file type '\.xlsx'"):
        read_records(path, FIELDS)


def test_csv_with_named_columns_and_quotes(tmp_path):
    path = write(tmp_path / "train.csv", 'review,category\n"好吃,很甜",水果\n电脑很快,电脑\n')
    records = read_records(path, FIELDS, columns={"text": "review", "label": "category"})
    assert [(r.line, r["label"], r["text"]) for r in records] == [(2, "水果", "好吃,很甜"), (3, "电脑", "电脑很快")]


def test_csv_missing_column(tmp_path):
    path = write(tmp_path / "train.csv", "text,category\n苹果很甜,水果\n")
    with pytest.raises(DataFormatError, match=r"train\.csv, line 1: missing column\(s\) 'label' in the header; "
                                              r"found \['text', 'category'\]"):
        read_records(path, FIELDS)


def test_csv_row_with_extra_cells(tmp_path):
    path = write(tmp_path / "train.csv", "text,label\n苹果很甜,水果\n电脑,很快,电脑\n")
    with pytest.raises(DataFormatError, match=r"line 3: expected 2 comma-separated cells"):
        read_records(path, FIELDS)


def test_jsonl(tmp_path):
    rows = [{"text": "苹果很甜", "label": "水果"}, {"text": "电脑很快", "label": 0}]
    path = write(tmp_path / "train.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    assert [r["label"] for r in read_records(path, FIELDS)] == ["水果", 0]


def test_jsonl_invalid_line(tmp_path):
    path = write(tmp_path / "train.jsonl", '{"text": "苹果很甜", "label": "水果"}\n{"text": "电脑很快", label: 0}\n')
    with pytest.raises(DataFormatError, match=r"line 2: invalid JSON: .*expected one JSON object per line"):
        read_records(path, FIELDS)


def test_jsonl_missing_key(tmp_path):
    path = write(tmp_path / "train.jsonl", '{"text": "苹果很甜"}\n')
    with pytest.raises(DataFormatError, match=r"line 1: missing key\(s\) 'label'; found \['text'\]"):
        read_records(path, FIELDS)


def test_json_array(tmp_path):
    path = write(tmp_path / "train.json", json.dumps([{"text": "苹果很甜", "label": "水果"}], ensure_ascii=False))
    assert read_records(path, FIELDS)[0]["text"] == "苹果很甜"


def test_optional_field_may_be_missing(tmp_path):
    path = write(tmp_path / "test.jsonl", '{"text": "苹果很甜"}\n')
    assert read_records(path, FIELDS, optional=("label",))[0]["label"] is None


def test_label_map_from_mapping_file_accepts_ids_and_names(tmp_path):
    labels = LabelMap.from_file(write(tmp_path / "labels.txt", "1,水果\n0,电脑\n"))
    assert labels.names == ["电脑", "水果"]
    assert labels.encode("1") == 1 and labels.encode("电脑") == 0 and labels.encode(1) == 1


def test_unknown_label_names_file_line_and_known_labels(tmp_path):
    labels = LabelMap.from_file(write(tmp_path / "labels.txt", "0,电脑\n1,水果\n"))
    records = read_records(write(tmp_path / "train.txt", "1\t苹果很甜\n7\t平板不错\n"), FIELDS)
    with pytest.raises(DataFormatError) as e:
        records_to_dataset(records, {"label": labels.encode_record})
    assert str(e.value) == f"{tmp_path / 'train.txt'}, line 2: unknown label '7'; known labels: 0=电脑, 1=水果"


def test_label_map_file_errors(tmp_path):
    with pytest.raises(DataFormatError, match=r"line 2: id 0 already used on line 1"):
        LabelMap.from_file(write(tmp_path / "a.txt", "0,电脑\n0,水果\n"))
    with pytest.raises(DataFormatError, match=r"ids must be 0\.\.1, found \[0, 2\]"):
        LabelMap.from_file(write(tmp_path / "b.txt", "0,电脑\n2,水果\n"))
    with pytest.raises(DataFormatError, match=r"line 1: expected id','name with an integer id"):
        LabelMap.from_file(write(tmp_path / "c.txt", "x,电脑\n"))
    with pytest.raises(DataFormatError, match="the label mapping file is empty"):
        LabelMap.from_file(write(tmp_path / "d.txt", ""))


def test_label_map_from_values_sorts_numbers_numerically():
    assert LabelMap.from_values(["10", "2", "1", "2"]).names == ["1", "2", "10"]
    assert LabelMap.from_values(["水果", "电脑"]).names == sorted(["水果", "电脑"])


def test_records_to_dataset():
    from plm_recipes.data import Record

    records = [Record("f", 1, {"label": "水果", "text": "甜"}), Record("f", 2, {"label": "电脑", "text": "快"})]
    labels = LabelMap(["电脑", "水果"])
    ds = records_to_dataset(records, {"label": labels.encode_record})
    assert ds.column_names == ["label", "text"] and ds["label"] == [1, 0]


def test_read_text_lines(tmp_path):
    assert read_text_lines(write(tmp_path / "t.txt", "一\n\n二\n")) == ["一", "二"]
    with pytest.raises(DataFormatError, match="expected one text per line"):
        read_text_lines(write(tmp_path / "e.txt", "\n"))


def test_label_names_that_are_other_labels_ids_are_refused(tmp_path):
    # ids 0,1,2 named "1","2","3": a data label "1" could be id 1 or the name of id 0
    path = tmp_path / "label_mapping.txt"
    path.write_text("0,1\n1,2\n2,3\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"label_mapping\.txt, line 1: label name '1' \(id 0\) is also the id "
                                              r"of '2' \(line 2\)"):
        LabelMap.from_file(path)
    # names equal to their own ids are not ambiguous
    path.write_text("0,0\n1,1\n", encoding="utf-8")
    assert LabelMap.from_file(path).encode("1") == 1
