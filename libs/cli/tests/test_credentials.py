import stat

from wolfgang.credentials import FILE_NAME, PAIRS, load_or_create


def test_a_data_dir_keeps_its_credentials_readable_by_its_owner_only(tmp_path):
    first = load_or_create(tmp_path / "data")
    again = load_or_create(tmp_path / "data")
    assert first == again and set(first) == set(PAIRS)
    assert stat.S_IMODE((tmp_path / "data" / FILE_NAME).stat().st_mode) == 0o600
    assert load_or_create(tmp_path / "other") != first  # random per data dir
