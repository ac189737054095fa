"""Entry script of the web app: `llmsizer app`, or `streamlit run` on this file."""

import streamlit as st

from llmsizer.web import pages
from llmsizer.web.sidebar import scenario_sidebar


def main() -> None:
    st.set_page_config(page_title="llmsizer", layout="wide")
    choice, problem = scenario_sidebar()

    def estimate():
        pages.estimate_page(choice, problem)

    def compare():
        pages.compare_page(choice, problem)

    def study():
        pages.study_page(choice, problem)

    st.navigation([st.Page(estimate, title="Estimate", default=True), st.Page(compare, title="Compare"),
                   st.Page(study, title="Study"), st.Page(pages.validation_page, title="Validation", url_path="validation")],
                  position="top").run()


if __name__ == "__main__":
    main()
